import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { downloadExport } from "../api/endpoints";
import type { PipelineStatus } from "../api/models";
import type { StoredUser } from "../auth";
import { errorText } from "../format";
import type { Layout } from "../hooks/useLayout";

interface MenuProps {
  user: StoredUser;
  onLogout: () => void;
  onError: (message: string | null) => void;
}

/** The account menu button: arrow keys move, Escape / Tab / an outside click close it. */
function AccountMenu({ user, onLogout, onError }: MenuProps) {
  const [open, setOpen] = useState(false);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const menuRef = useRef<HTMLDivElement>(null);
  const name = user.anonymous ? "Anonymous" : user.display_name;

  const items = () => Array.from(menuRef.current?.querySelectorAll<HTMLElement>('[role="menuitem"]') ?? []);
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) buttonRef.current?.focus();
  };

  useEffect(() => {
    if (!open) return;
    items()[0]?.focus();
    const outside = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!menuRef.current?.contains(target) && !buttonRef.current?.contains(target)) setOpen(false);
    };
    document.addEventListener("pointerdown", outside);
    return () => document.removeEventListener("pointerdown", outside);
  }, [open]);

  const onMenuKey = (event: KeyboardEvent<HTMLDivElement>) => {
    const list = items();
    const position = list.indexOf(document.activeElement as HTMLElement);
    const moves: Record<string, number> = { ArrowDown: position + 1, ArrowUp: position - 1, Home: 0, End: list.length - 1 };
    if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    } else if (event.key === "Tab") {
      close(false);
    } else if (event.key in moves) {
      event.preventDefault();
      list[(moves[event.key] + list.length) % list.length]?.focus();
    }
  };
  const exportMemory = async () => {
    close(true);
    onError(null);
    try {
      await downloadExport();
    } catch (reason) {
      onError(`Export failed. ${errorText(reason)}`);
    }
  };

  return (
    <div className="user-menu">
      <button
        ref={buttonRef}
        type="button"
        className="ghost menu-button"
        data-testid="user-menu"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls="account-menu"
        onClick={() => setOpen(!open)}
        onKeyDown={(event) => {
          if (event.key === "ArrowDown" && !open) {
            event.preventDefault();
            setOpen(true);
          }
        }}
      >
        <span className="avatar" aria-hidden="true">
          {name.charAt(0).toUpperCase()}
        </span>
        <span className="menu-name">{name}</span> <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div className="menu" role="menu" id="account-menu" aria-label="Account" ref={menuRef} onKeyDown={onMenuKey} data-testid="account-menu">
          <div className="menu-caption" role="presentation">
            {user.anonymous ? "anonymous namespace" : `signed in as @${user.username}`}
          </div>
          <button type="button" role="menuitem" tabIndex={-1} data-testid="export" onClick={() => void exportMemory()}>
            Export memory (JSONL)
          </button>
          <button
            type="button"
            role="menuitem"
            tabIndex={-1}
            data-testid="logout"
            onClick={() => {
              setOpen(false);
              onLogout();
            }}
          >
            {user.anonymous ? "Leave" : "Log out"}
          </button>
        </div>
      )}
    </div>
  );
}

interface HeaderProps {
  user: StoredUser;
  status: PipelineStatus | null;
  layout: Layout;
  onLogout: () => void;
  onExplainMode: () => void;
  onOpenSessions: () => void;
  onOpenPanels: () => void;
}

/** App name (the page's h1), server mode, the caller's counts, navigation on small screens and the account menu. */
export function Header({ user, status, layout, onLogout, onExplainMode, onOpenSessions, onOpenPanels }: HeaderProps) {
  const [exportError, setExportError] = useState<string | null>(null);
  const memoryOnly = status?.mode === "memory_only";
  const mode = status ? (memoryOnly ? "memory-only" : (status.llm_model ?? "llm")) : "…";
  const busy = status ? status.queued_jobs + status.running_jobs > 0 : false;
  return (
    <header className="header">
      {layout === "phone" && (
        <button type="button" className="ghost nav-button" data-testid="open-sessions" aria-label="Sessions" onClick={onOpenSessions}>
          <span aria-hidden="true">☰</span>
        </button>
      )}
      <h1 className="brand">
        <span className="logo" aria-hidden="true" /> LycheeMem
      </h1>
      <button
        type="button"
        className={`badge mode ${status?.mode ?? ""}`}
        data-testid="mode-badge"
        aria-label={status ? `Answer mode: ${mode}. What does this mean?` : "Answer mode loading"}
        onClick={onExplainMode}
      >
        {mode}
      </button>
      <div className="counts" data-testid="status-counts">
        <span data-testid="count-sessions">{status?.session_count ?? "–"} sessions</span>
        <span data-testid="count-memories">{status?.graph_node_count ?? "–"} memories</span>
        <span data-testid="count-skills">{status?.skill_count ?? "–"} skills</span>
        {busy && (
          <span className="badge busy" data-testid="busy-pill">
            consolidating…
          </span>
        )}
      </div>
      {layout !== "desktop" && (
        <button type="button" className="ghost nav-button" data-testid="open-panels" onClick={onOpenPanels}>
          Memory
        </button>
      )}
      <AccountMenu user={user} onLogout={onLogout} onError={setExportError} />
      {exportError && (
        <div className="error header-error" role="alert">
          {exportError}
        </div>
      )}
    </header>
  );
}
