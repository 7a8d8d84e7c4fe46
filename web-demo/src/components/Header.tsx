import { useState } from "react";
import { downloadExport } from "../api/endpoints";
import type { PipelineStatus } from "../api/models";
import type { StoredUser } from "../auth";
import { errorText } from "../format";

interface HeaderProps {
  user: StoredUser;
  status: PipelineStatus | null;
  onLogout: () => void;
}

/** App name, server mode, the caller's counts and the user menu. */
export function Header({ user, status, onLogout }: HeaderProps) {
  const [menuOpen, setMenuOpen] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);
  const mode = status ? (status.mode === "memory_only" ? "memory-only" : (status.llm_model ?? "llm")) : "…";
  const exportMemory = async () => {
    setExportError(null);
    try {
      await downloadExport();
    } catch (reason) {
      setExportError(errorText(reason));
    }
  };
  return (
    <header className="header">
      <div className="brand">
        <span className="logo" aria-hidden="true" /> LycheeMem
        <span className={`badge mode ${status?.mode ?? ""}`} data-testid="mode-badge" title="Answer mode of the server">
          {mode}
        </span>
      </div>
      <div className="counts" data-testid="status-counts">
        <span data-testid="count-sessions">{status?.session_count ?? "–"} sessions</span>
        <span data-testid="count-memories">{status?.graph_node_count ?? "–"} memories</span>
        <span data-testid="count-skills">{status?.skill_count ?? "–"} skills</span>
        {status && status.queued_jobs + status.running_jobs > 0 && (
          <span className="badge busy">consolidating…</span>
        )}
      </div>
      <div className="user-menu">
        <button type="button" className="ghost" data-testid="user-menu" aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>
          {user.anonymous ? "Anonymous" : user.display_name} ▾
        </button>
        {menuOpen && (
          <div className="menu" role="menu">
            <div className="menu-caption">{user.anonymous ? "anonymous namespace" : `@${user.username}`}</div>
            <button type="button" role="menuitem" data-testid="export" onClick={exportMemory}>
              Export memory (JSONL)
            </button>
            <button type="button" role="menuitem" data-testid="logout" onClick={onLogout}>
              {user.anonymous ? "Leave" : "Log out"}
            </button>
            {exportError && <div className="error">{exportError}</div>}
          </div>
        )}
      </div>
    </header>
  );
}
