import { useState, type KeyboardEvent } from "react";
import type { SessionSummary } from "../api/models";
import { localTime } from "../format";
import { useConfirm } from "../hooks/useConfirm";

interface SidebarProps {
  sessions: SessionSummary[];
  currentId: string;
  error: string | null;
  onNew: () => void;
  onSelect: (sessionId: string) => void;
  onRename: (sessionId: string, title: string) => Promise<void>;
  onDelete: (sessionId: string, forgetMemories: boolean) => Promise<void>;
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
  const onKey = async (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "Escape") setEditing(false);
    if (event.key === "Enter" && draft.trim()) {
      await onRename(draft.trim());
      setEditing(false);
    }
  };
  return (
    <li
      className={active ? "session active" : "session"}
      data-testid="session-item"
      data-session-id={session.session_id}
      aria-current={active ? "true" : undefined}
    >
      {editing ? (
        <input
          className="rename"
          data-testid="session-rename-input"
          aria-label="Session title"
          autoFocus
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onKey}
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
        <button type="button" className="icon" title="Rename" data-testid="session-rename" onClick={startEditing}>
          ✎
        </button>
        <button type="button" className="icon" title="Delete" data-testid="session-delete" onClick={onDelete}>
          ✕
        </button>
      </span>
    </li>
  );
}

/** The caller's sessions: new, select, rename inline, delete with an optional forget. */
export function Sidebar({ sessions, currentId, error, onNew, onSelect, onRename, onDelete }: SidebarProps) {
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
      <button type="button" className="primary wide" data-testid="session-new" onClick={onNew}>
        + New session
      </button>
      {error && <div className="error">{error}</div>}
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
