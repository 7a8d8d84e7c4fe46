import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { deleteSession, listSessions, pipelineStatus, renameSession } from "../api/endpoints";
import type { DoneEvent, PipelineStatus, SessionSummary } from "../api/models";
import type { StoredUser } from "../auth";
import { citationLabel } from "../citations";
import { errorText, newSessionId } from "../format";
import { useChat, type Message } from "../hooks/useChat";
import { consolidationSentence, useConsolidation } from "../hooks/useConsolidation";
import { useLayout } from "../hooks/useLayout";
import { Chat } from "./Chat";
import { Header } from "./Header";
import { Inspector } from "./Inspector";
import { MemoryTreePanel } from "./MemoryTreePanel";
import { markModeExplained, ModeDialog, modeExplained } from "./ModeInfo";
import { PipelinePanel } from "./PipelinePanel";
import { Sidebar } from "./Sidebar";
import { SkillsPanel } from "./SkillsPanel";
import { Modal } from "./ui/Modal";
import { panelId, tabId, Tabs } from "./ui/Tabs";
import { WorkingMemoryPanel } from "./WorkingMemoryPanel";

const STATUS_INTERVAL_MS = 15000;
const BUSY_INTERVAL_MS = 2000;
type Tab = "pipeline" | "wm" | "tree" | "skills";
const TABS: readonly (readonly [Tab, string])[] = [
  ["pipeline", "Pipeline"],
  ["wm", "Working memory"],
  ["tree", "Memory tree"],
  ["skills", "Skills"],
];
const TAB_PREFIX = "side";

function draftSession(sessionId: string): SessionSummary {
  const now = new Date().toISOString();
  return { session_id: sessionId, turn_count: 0, last_message: "", title: "New session", topic: null, tags: [], created_at: now, updated_at: now, consolidated_until: 0 };
}

/** Pipeline status on load, on demand, every 15 s while visible, and every 2 s while a job is queued or running. */
function useStatus(): [PipelineStatus | null, () => void] {
  const [status, setStatus] = useState<PipelineStatus | null>(null);
  const refresh = useCallback(() => {
    pipelineStatus().then(setStatus, () => undefined);
  }, []);
  useEffect(() => {
    refresh();
    const timer = setInterval(() => document.visibilityState === "visible" && refresh(), STATUS_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [refresh]);
  const busy = status ? status.queued_jobs + status.running_jobs > 0 : false;
  useEffect(() => {
    if (!busy) return;
    // Follow a queued job closely so the "consolidating…" pill goes away when it ends.
    const timer = setInterval(refresh, BUSY_INTERVAL_MS);
    return () => clearInterval(timer);
  }, [busy, refresh]);
  return [status, refresh];
}

/** Sessions from the server plus the not-yet-saved draft, newest first. */
function useSessions() {
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const refresh = useCallback(async () => {
    try {
      const page = await listSessions();
      setSessions(page.sessions);
      setError(null);
    } catch (reason) {
      setError(errorText(reason));
    } finally {
      setLoaded(true);
    }
  }, []);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return { sessions, loaded, error, refresh };
}

interface Highlight {
  sessionId: string;
  turns: Set<number>;
}

const NO_TURNS: ReadonlySet<number> = new Set();

/** A side sheet or bottom sheet (small screens) holding a region that sits inline on desktop. */
function Sheet({ title, id, side, testId, onClose, children }: { title: string; id: string; side: "left" | "right" | "bottom"; testId: string; onClose: () => void; children: ReactNode }) {
  return (
    <Modal labelledBy={`${id}-title`} className={`sheet sheet-${side}`} testId={testId} onClose={onClose}>
      <div className="sheet-head">
        <h2 id={`${id}-title`}>{title}</h2>
        <button type="button" className="icon" aria-label={`Close ${title.toLowerCase()}`} data-testid={`${testId}-close`} onClick={onClose}>
          <span aria-hidden="true">✕</span>
        </button>
      </div>
      <div className="sheet-body">{children}</div>
    </Modal>
  );
}

/** The signed-in screen: header, sessions, chat and the side panels; drawers and sheets on small screens. */
export function Workspace({ user, onLogout }: { user: StoredUser; onLogout: () => void }) {
  const layout = useLayout();
  const [status, refreshStatus] = useStatus();
  const sessions = useSessions();
  const [currentId, setCurrentId] = useState<string>(() => newSessionId());
  const [draftId, setDraftId] = useState<string | null>(currentId);
  const [tab, setTab] = useState<Tab>("pipeline");
  const [inspectorId, setInspectorId] = useState<string | null>(null);
  const [highlight, setHighlight] = useState<Highlight | null>(null);
  const [version, setVersion] = useState(0);
  const [sessionsOpen, setSessionsOpen] = useState(false);
  const [panelsOpen, setPanelsOpen] = useState(false);
  const [modeOpen, setModeOpen] = useState(false);
  const [noticeSeen, setNoticeSeen] = useState(modeExplained);
  const bump = useCallback(() => setVersion((value) => value + 1), []);
  const memoryOnly = status?.mode === "memory_only";

  const onTurnDone = useCallback(
    (_done: DoneEvent) => {
      setDraftId(null);
      void sessions.refresh();
      refreshStatus();
      bump();
    },
    [bump, refreshStatus, sessions],
  );
  const chat = useChat(currentId, currentId === draftId, onTurnDone);
  const afterConsolidation = useCallback(() => {
    refreshStatus();
    bump();
  }, [bump, refreshStatus]);
  const consolidation = useConsolidation(currentId, chat.lastTurn, afterConsolidation);

  // Open the most recent session once the list first arrives.
  const [picked, setPicked] = useState(false);
  useEffect(() => {
    if (!sessions.loaded || picked) return;
    setPicked(true);
    if (sessions.sessions.length) {
      setCurrentId(sessions.sessions[0].session_id);
      setDraftId(null);
    }
  }, [picked, sessions.loaded, sessions.sessions]);

  // Leaving a layout closes the sheets that only exist in it.
  const previousLayout = useRef(layout);
  useEffect(() => {
    if (previousLayout.current === layout) return;
    previousLayout.current = layout;
    setSessionsOpen(false);
    setPanelsOpen(false);
  }, [layout]);

  const shown = useMemo(() => {
    const known = sessions.sessions.some((session) => session.session_id === draftId);
    return draftId && !known ? [draftSession(draftId), ...sessions.sessions] : sessions.sessions;
  }, [draftId, sessions.sessions]);
  const currentTitle = shown.find((session) => session.session_id === currentId)?.title ?? "New session";

  const select = (sessionId: string) => {
    setCurrentId(sessionId);
    setHighlight(null);
    setSessionsOpen(false);
  };
  const newSession = () => {
    const sessionId = newSessionId();
    setDraftId(sessionId);
    select(sessionId);
  };
  const rename = async (sessionId: string, title: string) => {
    await renameSession(sessionId, title);
    if (sessionId === draftId) setDraftId(null);
    await sessions.refresh();
  };
  const remove = async (sessionId: string, forget: boolean) => {
    if (sessionId !== draftId) await deleteSession(sessionId, forget);
    if (sessionId === currentId) newSession();
    await sessions.refresh();
    refreshStatus();
    bump();
  };
  const openInSession = (sessionId: string, turns: number[]) => {
    // Close the inspector (and any sheet) so the highlighted turn is in plain view.
    setInspectorId(null);
    setPanelsOpen(false);
    setCurrentId(sessionId);
    setHighlight({ sessionId, turns: new Set(turns) });
    setTab("wm");
  };
  const openCitation = (message: Message, index: number) => {
    const item = message.provenance.find((entry) => entry.index === index);
    if (item?.record_id) setInspectorId(item.record_id);
    else if (item?.skill_id) {
      setTab("skills");
      if (layout !== "desktop") setPanelsOpen(true);
    }
  };
  const citeLabel = (message: Message, index: number, date: string | undefined) =>
    citationLabel(
      message.provenance.find((entry) => entry.index === index),
      date,
      sessions.sessions,
    );
  const dismissNotice = () => {
    markModeExplained();
    setNoticeSeen(true);
  };
  const highlightTurns = highlight && highlight.sessionId === currentId ? highlight.turns : NO_TURNS;

  const sidebar = (
    <Sidebar
      sessions={shown}
      currentId={currentId}
      error={sessions.error}
      onNew={newSession}
      onSelect={select}
      onRename={rename}
      onDelete={remove}
      showHeading={layout !== "phone"}
    />
  );
  const panels = (
    <section className="panel" aria-label="Memory panels" data-testid="panels">
      <Tabs idPrefix={TAB_PREFIX} label="Memory panels" tabs={TABS} selected={tab} onSelect={setTab} testPrefix="panel-tab-" />
      <div className="panel-body" role="tabpanel" id={panelId(TAB_PREFIX, tab)} aria-labelledby={tabId(TAB_PREFIX, tab)} tabIndex={0} data-testid="panel-body">
        {tab === "pipeline" && <PipelinePanel lastTurn={chat.lastTurn} consolidation={consolidation} onOpenRecord={setInspectorId} />}
        {tab === "wm" && <WorkingMemoryPanel sessionId={currentId} fresh={currentId === draftId} version={version} highlightTurns={highlightTurns} />}
        {tab === "tree" && <MemoryTreePanel version={version} onOpen={setInspectorId} onChanged={afterConsolidation} />}
        {tab === "skills" && <SkillsPanel version={version} memoryOnly={status?.mode !== "llm"} onChanged={afterConsolidation} />}
      </div>
    </section>
  );
  const inspector = inspectorId && (
    <Inspector
      itemId={inspectorId}
      headingId="inspector-title"
      sessions={sessions.sessions}
      onClose={() => setInspectorId(null)}
      onOpen={setInspectorId}
      onOpenSession={openInSession}
      onDeleted={afterConsolidation}
    />
  );

  return (
    <div className={`app layout-${layout}`} data-layout={layout}>
      <Header
        user={user}
        status={status}
        layout={layout}
        onLogout={onLogout}
        onExplainMode={() => setModeOpen(true)}
        onOpenSessions={() => setSessionsOpen(true)}
        onOpenPanels={() => setPanelsOpen(true)}
      />
      <div className="workspace">
        {layout !== "phone" && sidebar}
        <main className="main" id="main">
          <Chat
            chat={chat}
            title={currentTitle}
            highlightTurns={highlightTurns}
            showModeNotice={memoryOnly && !noticeSeen}
            onDismissModeNotice={dismissNotice}
            turnStatus={consolidationSentence(consolidation)}
            onCite={openCitation}
            citeLabel={citeLabel}
          />
        </main>
        {layout === "desktop" && panels}
        {layout === "desktop" && inspector && (
          <aside
            className="inspector"
            aria-labelledby="inspector-title"
            onKeyDown={(event) => {
              if (event.key === "Escape") setInspectorId(null);
            }}
          >
            {inspector}
          </aside>
        )}
      </div>
      {layout === "phone" && sessionsOpen && (
        <Sheet title="Sessions" id="sessions-sheet" side="left" testId="sessions-sheet" onClose={() => setSessionsOpen(false)}>
          {sidebar}
        </Sheet>
      )}
      {layout !== "desktop" && panelsOpen && (
        <Sheet title="Memory" id="panels-sheet" side={layout === "phone" ? "bottom" : "right"} testId="panels-sheet" onClose={() => setPanelsOpen(false)}>
          {panels}
        </Sheet>
      )}
      {layout !== "desktop" && inspector && (
        <Modal labelledBy="inspector-title" className={`sheet sheet-${layout === "phone" ? "bottom" : "right"} inspector-sheet`} testId="inspector-sheet" onClose={() => setInspectorId(null)}>
          <div className="sheet-body">{inspector}</div>
        </Modal>
      )}
      {modeOpen && <ModeDialog status={status} onClose={() => setModeOpen(false)} />}
    </div>
  );
}
