import { useState, type ReactNode } from "react";
import { deleteRecord, getRecord } from "../api/endpoints";
import type { MemoryItem, SessionSummary, SourceRef } from "../api/models";
import { errorText, localTime, typeColor } from "../format";
import { useAsync } from "../hooks/useAsync";
import { useConfirm } from "../hooks/useConfirm";

interface InspectorProps {
  itemId: string;
  onClose: () => void;
  onOpen: (itemId: string) => void;
  onOpenSession: (sessionId: string, turns: number[]) => void;
  onDeleted: () => void;
  sessions: readonly SessionSummary[];
  /** Id of the heading that names the surrounding region or dialog. */
  headingId: string;
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

const list = (values: string[]) => (values.length ? values.join(", ") : "—");

function IdLinks({ ids, onOpen }: { ids: string[]; onOpen: (id: string) => void }) {
  if (!ids.length) return <>—</>;
  return (
    <span className="id-links">
      {ids.map((id) => (
        <button key={id} type="button" className="link mono" data-testid="inspector-link" aria-label={`Open memory ${id.slice(0, 12)}`} onClick={() => onOpen(id)}>
          {id.slice(0, 12)}…
        </button>
      ))}
    </span>
  );
}

interface SourcesProps {
  sources: SourceRef[];
  sessions: readonly SessionSummary[];
  onOpenSession: InspectorProps["onOpenSession"];
}

function Sources({ sources, sessions, onOpenSession }: SourcesProps) {
  if (!sources.length) return <p className="muted">No recorded source.</p>;
  return (
    <ul className="sources">
      {sources.map((source) => {
        const session = sessions.find((entry) => entry.session_id === source.session_id);
        return (
          <li key={source.session_id} data-testid="inspector-source" data-session-id={source.session_id} data-turn-ids={source.turn_ids.join(",")}>
            <div className="source-text">
              <b>{session?.title ?? "Deleted session"}</b>
              <span className="muted small">
                {" "}
                · turns {source.turn_ids.join(", ") || "—"}
                {source.turn_refs.length > 0 && ` (refs ${source.turn_refs.join(", ")})`}
              </span>
              <code className="id">{source.session_id}</code>
            </div>
            {session && (
              <button type="button" className="small" data-testid="open-in-session" onClick={() => onOpenSession(source.session_id, source.turn_ids)}>
                Open in session
              </button>
            )}
          </li>
        );
      })}
    </ul>
  );
}

function Details({ item, onOpen }: { item: MemoryItem; onOpen: (id: string) => void }) {
  const tags = [...item.task_tags, ...item.tool_tags, ...item.constraint_tags, ...item.failure_tags, ...item.affordance_tags];
  const temporal = [item.temporal.t_ref, item.temporal.t_valid_from, item.temporal.t_valid_to];
  return (
    <dl className="fields">
      <Field label="Normalized">{item.normalized_text}</Field>
      <Field label="Confidence">{item.confidence.toFixed(2)}</Field>
      <Field label="Entities">{list(item.entities)}</Field>
      <Field label="Tags">{list(tags)}</Field>
      <Field label="Temporal">{temporal.some(Boolean) ? `ref ${temporal[0] ?? "—"} · valid ${temporal[1] ?? "…"} → ${temporal[2] ?? "…"}` : "—"}</Field>
      <Field label="Counters">
        retrieved {item.retrieval_count} · hits {item.retrieval_hit_count} · success {item.action_success_count} · fail {item.action_fail_count}
      </Field>
      <Field label="Created">{localTime(item.created_at)}</Field>
      <Field label="Updated">{localTime(item.updated_at)}{item.version ? ` (version ${item.version})` : ""}</Field>
      {item.expired && (
        <Field label="Expired">
          {localTime(item.expired_at)} {item.expired_reason ? `· ${item.expired_reason}` : ""}
          {item.superseded_by && <> · superseded by <IdLinks ids={[item.superseded_by]} onOpen={onOpen} /></>}
        </Field>
      )}
      <Field label="Parents"><IdLinks ids={item.parents} onOpen={onOpen} /></Field>
      {item.children && (
        <Field label="Children">
          <IdLinks ids={[...item.children.child_composite_ids, ...item.children.direct_record_ids]} onOpen={onOpen} />
        </Field>
      )}
    </dl>
  );
}

/** A drawer with everything known about one record or composite. */
export function Inspector({ itemId, onClose, onOpen, onOpenSession, onDeleted, sessions, headingId }: InspectorProps) {
  const confirm = useConfirm();
  const { data: item, error, loading, reload } = useAsync(() => getRecord(itemId), [itemId]);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const remove = async () => {
    const answer = await confirm({ title: "Delete memory?", message: "This item and every composite containing it will be deleted." });
    if (!answer.ok) return;
    try {
      await deleteRecord(itemId);
      onDeleted();
      onClose();
    } catch (reason) {
      setDeleteError(`The memory was not deleted. ${errorText(reason)}`);
    }
  };
  return (
    <div className="inspector-body" data-testid="inspector" data-item-id={itemId}>
      <div className="inspector-head">
        <h2 id={headingId}>{item ? (item.kind === "composite" ? "Composite memory" : "Memory record") : "Memory"}</h2>
        <button type="button" className="icon" aria-label="Close the inspector" data-testid="inspector-close" onClick={onClose}>
          <span aria-hidden="true">✕</span>
        </button>
      </div>
      {loading && !item && <p className="muted">Loading…</p>}
      {error && (
        <div className="error" role="alert">
          This memory could not be loaded. {error}{" "}
          <button type="button" className="small" onClick={reload}>
            Try again
          </button>
        </div>
      )}
      {item && item.record_id === itemId && (
        <>
          <p className="inspector-text">{item.semantic_text}</p>
          <p className="inspector-type">
            <span className="badge">
              <span className="type-dot" style={{ background: typeColor(item.memory_type) }} aria-hidden="true" /> {item.memory_type}
            </span>
          </p>
          <p className="small">
            <span className="muted">Id </span>
            <code className="id" data-testid="inspector-id">{item.record_id}</code>
          </p>
          <Details item={item} onOpen={onOpen} />
          {item.history.length > 0 && (
            <section>
              <h3>Version history</h3>
              <ul className="compact">
                {item.history.map((entry, position) => (
                  <li key={position}>
                    {entry.semantic_text} <span className="muted">({entry.reason}, {localTime(entry.replaced_at)})</span>
                  </li>
                ))}
              </ul>
            </section>
          )}
          <h3>Provenance</h3>
          <Sources sources={item.sources} sessions={sessions} onOpenSession={onOpenSession} />
          {deleteError && (
            <div className="error" role="alert">
              {deleteError}
            </div>
          )}
          <button type="button" className="danger" data-testid="inspector-delete" onClick={() => void remove()}>
            Delete memory
          </button>
        </>
      )}
    </div>
  );
}
