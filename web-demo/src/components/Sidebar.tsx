import { useState, type KeyboardEvent } from "react";
import type { SessionSummary } from "../api/models";
import { errorText, localTime } from "../format";
import { useConfirm } from "../hooks/useConfirm";

interface SidebarProps {
  sessions: SessionSummary[];
  currentId: string;
  error: string | null;
  onNew: () => void;
  onSelect: (sessionId: string) => void;
  onRename: (sessionId: string, title: string) => Promise<void>;
  onDelete: (sessionId: string, forgetMemories: boolean) => Promise<void>;
  /** Heading level text shown above the list (the drawer has its own). */
  showHeading?: boolean;
}

interface ItemProps {
  session: SessionSummary;
  active: boolean;
  onSelect: () => void;
  onRename: (title: string) => Promise<void>;
  onDelete: () => void;
}

function SessionItem({ session, active, onSelect, onRename, onDelete }: ItemProps) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(session.title);
  const startEditing = () => {
    setDraft(session.title);
    setEditing(true);
  };
  const [error, setError] = useState<string | null>(null);
  const onKey = async (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "Escape") {
      // Only leave the editor; a surrounding drawer stays open.
      event.stopPropagation();
      event.preventDefault();
      setEditing(false);
    }
    if (event.key === "Enter") {
      if (!draft.trim()) return setError("A title cannot be empty.");
      try {
        await onRename(draft.trim());
        setEditing(false);
        setError(null);
      } catch (reason) {
        setError(`Renaming failed. ${errorText(reason)}`);
      }
    }
  };
  return (
    <li
      className={active ? "session active" : "session"}
      data-testid="session-item"
      data-session-id={session.session_id}
      aria-current={active ? "true" : undefined}
      data-active={active ? "true" : "false"}
    >
      {editing ? (
        <input
          className="rename"
          data-testid="session-rename-input"
          aria-label="Session title (Enter to save, Escape to cancel)"
          autoFocus
          maxLength={200}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => void onKey(event)}
          onBlur={() => setEditing(false)}
        />
      ) : (
        <button type="button" className="session-main" onClick={onSelect} onDoubleClick={startEditing}>
          <span className="session-title">{session.title}</span>
          <span className="session-meta">
            {session.turn_count} turns · {localTime(session.updated_at)}
          </span>
        </button>
      )}
      <span className="session-actions">
        <button type="button" className="icon" aria-label={`Rename “${session.title}”`} title="Rename" data-testid="session-rename" onClick={startEditing}>
          <span aria-hidden="true">✎</span>
        </button>
        <button type="button" className="icon" aria-label={`Delete “${session.title}”`} title="Delete" data-testid="session-delete" onClick={onDelete}>
          <span aria-hidden="true">✕</span>
        </button>
      </span>
      {error && (
        <p className="error small session-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

/** The caller's sessions: new, select, rename inline, delete with an optional forget. */
export function Sidebar({ sessions, currentId, error, onNew, onSelect, onRename, onDelete, showHeading = true }: SidebarProps) {
  const confirm = useConfirm();
  const remove = async (session: SessionSummary) => {
    const answer = await confirm({
      title: "Delete session?",
      message: `“${session.title}” and its turns will be deleted.`,
      checkboxLabel: "Also forget its memories",
    });
    if (answer.ok) await onDelete(session.session_id, answer.checked);
  };
  return (
    <nav className="sidebar" aria-label="Sessions">
      {showHeading && <h2 className="sr-only">Sessions</h2>}
      <button type="button" className="primary wide" data-testid="session-new" onClick={onNew}>
        + New session
      </button>
      {error && (
        <div className="error" role="alert">
          Sessions could not be loaded. {error}
        </div>
      )}
      <ul className="session-list">
        {sessions.map((session) => (
          <SessionItem
            key={session.session_id}
            session={session}
            active={session.session_id === currentId}
            onSelect={() => onSelect(session.session_id)}
            onRename={(title) => onRename(session.session_id, title)}
            onDelete={() => void remove(session)}
          />
        ))}
      </ul>
    </nav>
  );
}
