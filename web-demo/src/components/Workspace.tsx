import { useCallback, useEffect, useMemo, useState } from "react";
import { deleteSession, listSessions, pipelineStatus, renameSession } from "../api/endpoints";
import type { DoneEvent, PipelineStatus, SessionSummary } from "../api/models";
import type { StoredUser } from "../auth";
import { errorText, newSessionId } from "../format";
import { useChat, type Message } from "../hooks/useChat";
import { Chat } from "./Chat";
import { Header } from "./Header";
import { Inspector } from "./Inspector";
import { MemoryTreePanel } from "./MemoryTreePanel";
import { PipelinePanel } from "./PipelinePanel";
import { Sidebar } from "./Sidebar";
import { SkillsPanel } from "./SkillsPanel";
import { WorkingMemoryPanel } from "./WorkingMemoryPanel";

const STATUS_INTERVAL_MS = 15000;
type Tab = "pipeline" | "wm" | "tree" | "skills";
const TABS: [Tab, string][] = [
  ["pipeline", "Pipeline"],
  ["wm", "Working memory"],
  ["tree", "Memory tree"],
  ["skills", "Skills"],
];

function draftSession(sessionId: string): SessionSummary {
  const now = new Date().toISOString();
  return { session_id: sessionId, turn_count: 0, last_message: "", title: "New session", topic: null, tags: [], created_at: now, updated_at: now, consolidated_until: 0 };
}

/** Pipeline status on load, on demand, and every 15 s while the page is visible. */
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

/** The signed-in screen: header, sessions, chat and the side panels. */
export function Workspace({ user, onLogout }: { user: StoredUser; onLogout: () => void }) {
  const [status, refreshStatus] = useStatus();
  const sessions = useSessions();
  const [currentId, setCurrentId] = useState<string>(() => newSessionId());
  const [draftId, setDraftId] = useState<string | null>(currentId);
  const [tab, setTab] = useState<Tab>("pipeline");
  const [inspectorId, setInspectorId] = useState<string | null>(null);
  const [highlight, setHighlight] = useState<Highlight | null>(null);
  const [version, setVersion] = useState(0);
  const bump = useCallback(() => setVersion((value) => value + 1), []);

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

  const shown = useMemo(() => {
    const known = sessions.sessions.some((session) => session.session_id === draftId);
    return draftId && !known ? [draftSession(draftId), ...sessions.sessions] : sessions.sessions;
  }, [draftId, sessions.sessions]);

  const select = (sessionId: string) => {
    setCurrentId(sessionId);
    setHighlight(null);
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
    setCurrentId(sessionId);
    setHighlight({ sessionId, turns: new Set(turns) });
    setTab("wm");
  };
  const openCitation = (message: Message, index: number) => {
    const item = message.provenance.find((entry) => entry.index === index);
    if (item?.record_id) setInspectorId(item.record_id);
    else if (item?.skill_id) setTab("skills");
  };
  const afterConsolidation = useCallback(() => {
    refreshStatus();
    bump();
  }, [bump, refreshStatus]);
  const highlightTurns = highlight && highlight.sessionId === currentId ? highlight.turns : NO_TURNS;

  return (
    <div className="app">
      <Header user={user} status={status} onLogout={onLogout} />
      <div className="workspace">
        <Sidebar sessions={shown} currentId={currentId} error={sessions.error} onNew={newSession} onSelect={select} onRename={rename} onDelete={remove} />
        <Chat chat={chat} highlightTurns={highlightTurns} onCite={openCitation} />
        <section className="panel">
          <div className="tabs" role="tablist">
            {TABS.map(([name, label]) => (
              <button key={name} type="button" role="tab" aria-selected={tab === name} className={tab === name ? "tab active" : "tab"} data-testid={`panel-tab-${name}`} onClick={() => setTab(name)}>
                {label}
              </button>
            ))}
          </div>
          <div className="panel-body">
            {tab === "pipeline" && <PipelinePanel sessionId={currentId} done={chat.lastDone} onConsolidated={afterConsolidation} onOpenRecord={setInspectorId} />}
            {tab === "wm" && <WorkingMemoryPanel sessionId={currentId} fresh={currentId === draftId} version={version} highlightTurns={highlightTurns} />}
            {tab === "tree" && <MemoryTreePanel version={version} onOpen={setInspectorId} onChanged={afterConsolidation} />}
            {tab === "skills" && <SkillsPanel version={version} onChanged={afterConsolidation} />}
          </div>
        </section>
        {inspectorId && (
          <Inspector itemId={inspectorId} onClose={() => setInspectorId(null)} onOpen={setInspectorId} onOpenSession={openInSession} onDeleted={afterConsolidation} />
        )}
      </div>
    </div>
  );
}
