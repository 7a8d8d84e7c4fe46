import type { ConsolidationStatus } from "../api/models";
import { typeColor } from "../format";
import type { LastTurn } from "../hooks/useChat";
import { skipReason, type ConsolidationState } from "../hooks/useConsolidation";

/** The plan's queries without repeats (the planner often lists the message more than once). */
export function uniqueQueries(queries: readonly string[]): string[] {
  const seen = new Set<string>();
  return queries.filter((query) => {
    const key = query.trim().toLowerCase();
    if (!key || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function Counts({ result }: { result: ConsolidationStatus }) {
  return (
    <p data-testid="consolidation-counts">
      {result.turns_consolidated} turns read · {result.records_added} records added · {result.records_merged} merged · {result.records_updated} updated ·{" "}
      {result.composites_created} composites · {result.skills_added} skills
    </p>
  );
}

const PHASE_LABELS: Record<ConsolidationState["phase"], string> = {
  idle: "not followed",
  queued: "queued",
  done: "done",
  skipped: "skipped",
  failed: "failed",
  disabled: "off",
  unknown: "still running",
};

function Consolidation({ state }: { state: ConsolidationState }) {
  const { phase, result, error } = state;
  return (
    <section className="card" aria-labelledby="consolidation-title">
      <h3 id="consolidation-title">
        Consolidation{" "}
        <span className={`badge status-${phase}`} data-testid="consolidation-status" data-status={phase}>
          {PHASE_LABELS[phase]}
        </span>
      </h3>
      {phase === "idle" && <p className="muted">This trace was loaded with the session's history. Send a message to follow its consolidation here.</p>}
      {phase === "queued" && (
        <p className="muted" data-testid="consolidation-pending">
          The turn is stored. The background job starts a few seconds after the last message and turns it into memory records; the counts appear here when it finishes.
        </p>
      )}
      {phase === "unknown" && <p className="muted">The job is taking longer than usual; check again later in the Memory tree.</p>}
      {phase === "disabled" && <p className="muted">Automatic consolidation is switched off on this server.</p>}
      {error && (
        <div className="error" role="alert">
          The consolidation status could not be read. {error}
        </div>
      )}
      {result && (phase === "done" || phase === "skipped" || phase === "failed") && (
        <>
          {phase === "done" && <Counts result={result} />}
          {phase === "skipped" && <p>Nothing new to remember{result.skipped_reason ? `: ${skipReason(result.skipped_reason)}.` : "."}</p>}
          {result.error && <div className="error">{result.error}</div>}
          {(result.steps ?? []).length > 0 && (
            <details>
              <summary>Steps</summary>
              <ul className="compact">
                {(result.steps ?? []).map((step, position) => (
                  <li key={position}>
                    <code>{step.step}</code> {step.status}{" "}
                    <span className="muted">
                      {step.detail} · {step.ms.toFixed(1)} ms
                    </span>
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
    </section>
  );
}

interface PipelinePanelProps {
  lastTurn: LastTurn | null;
  consolidation: ConsolidationState;
  onOpenRecord: (recordId: string) => void;
}

/** What the last turn did: working memory, plan, hits, skills, synthesis, then consolidation. */
export function PipelinePanel({ lastTurn, consolidation, onOpenRecord }: PipelinePanelProps) {
  if (!lastTurn) return <p className="muted pad">Send a message to see how the pipeline handled it.</p>;
  const { wm_manager: wm, search_coordinator: search, synthesizer: synth, reasoner } = lastTurn.trace;
  const plan = search?.retrieval_plan;
  const queries = plan ? uniqueQueries([...plan.semantic_queries, ...plan.pragmatic_queries]) : [];
  return (
    <div className="pipeline" data-testid="pipeline-panel" data-source={lastTurn.live ? "live" : "history"}>
      {!lastTurn.live && (
        <p className="muted small" data-testid="pipeline-from-history">
          Trace of the last answer in this session.
        </p>
      )}
      <section className="card">
        <h3>Working memory</h3>
        <p>
          {wm?.wm_token_usage ?? 0} / {wm?.wm_max_tokens ?? 0} tokens · {wm?.raw_recent_turn_count ?? 0} recent turns · {wm?.compressed_turn_count ?? 0} compressed ·
          compression {wm?.compression_mode ?? "none"}
        </p>
      </section>
      {plan && (
        <section className="card">
          <h3>Plan</h3>
          <p>
            mode <b>{plan.mode}</b> · tree {plan.tree_retrieval_mode} (depth {plan.tree_expansion_depth}) · planner {plan.planner}
          </p>
          <ul className="compact" data-testid="plan-queries">
            {queries.map((query) => (
              <li key={query}>“{query}”</li>
            ))}
          </ul>
        </section>
      )}
      <section className="card">
        <h3>Hits ({search?.graph_memories.length ?? 0})</h3>
        {search?.graph_memories.length ? (
          <ul className="compact">
            {search.graph_memories.map((hit) => (
              <li key={hit.node_id}>
                <button type="button" className="link" onClick={() => onOpenRecord(hit.node_id)}>
                  <span className="type-dot" style={{ background: typeColor(hit.label) }} aria-hidden="true" /> {hit.name}
                </button>{" "}
                <span className="muted">
                  {hit.label} · score {hit.score.toFixed(2)}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">No stored memory matched.</p>
        )}
      </section>
      <section className="card">
        <h3>Skills ({search?.skills.length ?? 0})</h3>
        {search?.skills.length ? (
          <ul className="compact">
            {search.skills.map((skill) => (
              <li key={skill.skill_id}>
                {skill.intent}{" "}
                <span className="muted">
                  score {skill.score.toFixed(2)}
                  {skill.reusable ? " · reusable" : ""}
                </span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="muted">No skill matched.</p>
        )}
      </section>
      {synth && (
        <section className="card">
          <h3>Synthesis</h3>
          <p>
            kept {synth.kept_count} · dropped {synth.dropped_count} · judge {synth.judge} · answer {reasoner?.mode ?? lastTurn.mode}
          </p>
          {synth.background_context && (
            <details className="context-details">
              <summary>Context given to the answer (raw, with ids)</summary>
              <pre className="context">{synth.background_context}</pre>
            </details>
          )}
        </section>
      )}
      <Consolidation state={consolidation} />
    </div>
  );
}
