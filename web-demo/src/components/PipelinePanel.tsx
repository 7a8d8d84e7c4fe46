import { useEffect, useState } from "react";
import { lastConsolidation } from "../api/endpoints";
import type { ConsolidationStatus, DoneEvent } from "../api/models";
import { errorText, typeColor } from "../format";

const POLL_START_MS = 2000;
const POLL_MAX_MS = 10000;
const POLL_LIMIT_MS = 120000;

/** Poll the session's last consolidation, 2 s growing to 10 s, until it is no longer pending. */
function useConsolidation(sessionId: string, done: DoneEvent | null, onSettled: () => void) {
  const [result, setResult] = useState<ConsolidationStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setResult(null);
    setError(null);
    if (!done) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;
    const started = Date.now();
    const poll = async (delay: number) => {
      try {
        const status = await lastConsolidation(sessionId);
        if (!live) return;
        setResult(status);
        const waiting = status.status === "pending" || status.status === "running" || (status.status === "none" && done.consolidation_job_id);
        if (!waiting) return onSettled();
      } catch (reason) {
        if (live) setError(errorText(reason));
      }
      if (live && Date.now() - started < POLL_LIMIT_MS) {
        timer = setTimeout(() => void poll(Math.min(delay * 1.5, POLL_MAX_MS)), delay);
      }
    };
    timer = setTimeout(() => void poll(POLL_START_MS), done.consolidation_job_id ? 300 : 0);
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sessionId, done]);
  return { result, error };
}

function Consolidation({ result, error }: { result: ConsolidationStatus | null; error: string | null }) {
  const status = result?.status ?? "waiting";
  return (
    <section className="card">
      <h4>
        Consolidation{" "}
        <span className={`badge status-${status}`} data-testid="consolidation-status" data-status={status}>
          {status}
        </span>
      </h4>
      {error && <div className="error">{error}</div>}
      {result && result.status !== "none" && (
        <>
          <p className="muted">
            {result.turns_consolidated} turns · {result.records_added} records added · {result.records_merged} merged ·{" "}
            {result.records_updated} updated · {result.composites_created} composites · {result.skills_added} skills
            {result.skipped_reason ? ` · skipped: ${result.skipped_reason}` : ""}
          </p>
          {result.error && <div className="error">{result.error}</div>}
          <ul className="compact">
            {result.steps.map((step, position) => (
              <li key={position}>
                <code>{step.step}</code> {step.status} <span className="muted">{step.detail} · {step.ms.toFixed(1)} ms</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

interface PipelinePanelProps {
  sessionId: string;
  done: DoneEvent | null;
  onConsolidated: () => void;
  onOpenRecord: (recordId: string) => void;
}

/** What the last turn did: working memory, plan, hits, skills, synthesis, then consolidation. */
export function PipelinePanel({ sessionId, done, onConsolidated, onOpenRecord }: PipelinePanelProps) {
  const consolidation = useConsolidation(sessionId, done, onConsolidated);
  if (!done) return <p className="muted pad">Send a message to see how the pipeline handled it.</p>;
  const { wm_manager: wm, search_coordinator: search, synthesizer: synth, reasoner } = done.trace;
  const plan = search?.retrieval_plan;
  return (
    <div className="pipeline" data-testid="pipeline-panel">
      <section className="card">
        <h4>Working memory</h4>
        <p>
          {wm?.wm_token_usage ?? 0} / {wm?.wm_max_tokens ?? 0} tokens · {wm?.raw_recent_turn_count ?? 0} recent turns ·{" "}
          {wm?.compressed_turn_count ?? 0} compressed · compression {wm?.compression_mode ?? "none"}
        </p>
      </section>
      {plan && (
        <section className="card">
          <h4>Plan</h4>
          <p>
            mode <b>{plan.mode}</b> · tree {plan.tree_retrieval_mode} (depth {plan.tree_expansion_depth}) · planner {plan.planner}
          </p>
          <ul className="compact">
            {[...plan.semantic_queries, ...plan.pragmatic_queries].map((q, position) => (
              <li key={position}>“{q}”</li>
            ))}
          </ul>
        </section>
      )}
      <section className="card">
        <h4>Hits ({search?.graph_memories.length ?? 0})</h4>
        <ul className="compact">
          {(search?.graph_memories ?? []).map((hit) => (
            <li key={hit.node_id}>
              <button type="button" className="link" onClick={() => onOpenRecord(hit.node_id)}>
                <span className="type-dot" style={{ background: typeColor(hit.label) }} /> {hit.label}
              </button>{" "}
              <span className="muted">score {hit.score.toFixed(2)}</span> {hit.name}
            </li>
          ))}
        </ul>
      </section>
      <section className="card">
        <h4>Skills ({search?.skills.length ?? 0})</h4>
        <ul className="compact">
          {(search?.skills ?? []).map((skill) => (
            <li key={skill.skill_id}>
              {skill.intent} <span className="muted">score {skill.score.toFixed(2)}{skill.reusable ? " · reusable" : ""}</span>
            </li>
          ))}
        </ul>
      </section>
      {synth && (
        <section className="card">
          <h4>Synthesis</h4>
          <p>
            kept {synth.kept_count} · dropped {synth.dropped_count} · judge {synth.judge} · answer {reasoner?.mode ?? done.mode}
          </p>
          {synth.background_context && <pre className="context">{synth.background_context}</pre>}
        </section>
      )}
      <Consolidation {...consolidation} />
    </div>
  );
}
