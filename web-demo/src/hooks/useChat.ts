import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { getSession } from "../api/endpoints";
import { STEP_NAMES } from "../api/models";
import type { ChatEvent, DoneEvent, StepName, SynthesisProvenance, Turn } from "../api/models";
import { streamChat } from "../api/sse";
import { errorText } from "../format";

export type StepStatus = "pending" | "running" | "done" | "error";
export interface StepState {
  status: StepStatus;
  ms: number | null;
}
export type Steps = Record<StepName, StepState>;

export interface Message {
  key: string;
  role: "user" | "assistant";
  content: string;
  turnIndex: number | null;
  streaming: boolean;
  provenance: SynthesisProvenance[];
  usageLogId: string | null;
  failed: boolean;
}

export interface ChatBanner {
  message: string;
  code: string;
  traceId?: string;
}

const idleSteps = (): Steps =>
  Object.fromEntries(STEP_NAMES.map((name) => [name, { status: "pending", ms: null }])) as Steps;

const fromTurn = (turn: Turn): Message => ({
  key: `turn-${turn.turn_index}`,
  role: turn.role,
  content: turn.content,
  turnIndex: turn.turn_index,
  streaming: false,
  provenance: [],
  usageLogId: null,
  failed: false,
});

let keyCounter = 0;
const freshKey = (prefix: string) => `${prefix}-${Date.now()}-${++keyCounter}`;

function nextTurnIndex(messages: Message[]): number {
  return messages.reduce((next, message) => Math.max(next, (message.turnIndex ?? -1) + 1), 0);
}

/** Update the streaming assistant message (always the last one). */
function patchLast(messages: Message[], patch: (message: Message) => Partial<Message>): Message[] {
  const last = messages[messages.length - 1];
  if (!last || last.role !== "assistant") return messages;
  return [...messages.slice(0, -1), { ...last, ...patch(last) }];
}

/** Advance the step timeline: `step` finished, the next one starts running. */
function completeStep(steps: Steps, step: StepName, startedAt: number): Steps {
  const next = { ...steps, [step]: { status: "done", ms: Math.round(performance.now() - startedAt) } };
  const following = STEP_NAMES[STEP_NAMES.indexOf(step) + 1];
  if (following && next[following].status === "pending") next[following] = { status: "running", ms: null };
  return next as Steps;
}

function failStep(steps: Steps, step: string | undefined): Steps {
  const running = STEP_NAMES.find((name) => steps[name].status === "running");
  const target = (STEP_NAMES as readonly string[]).includes(step ?? "") ? (step as StepName) : running;
  return target ? { ...steps, [target]: { status: "error", ms: null } } : steps;
}

export interface ChatState {
  messages: Message[];
  steps: Steps;
  streaming: boolean;
  banner: ChatBanner | null;
  loadingHistory: boolean;
  lastDone: DoneEvent | null;
  send: (text: string) => Promise<void>;
  dismissBanner: () => void;
  reloadHistory: () => void;
}

/** Chat of one session: history from the server, streaming turns over SSE. */
export function useChat(sessionId: string, fresh: boolean, onTurnDone: (done: DoneEvent) => void): ChatState {
  const [messages, setMessages] = useState<Message[]>([]);
  const [steps, setSteps] = useState<Steps>(idleSteps);
  const [streaming, setStreaming] = useState(false);
  const [banner, setBanner] = useState<ChatBanner | null>(null);
  const [loadingHistory, setLoadingHistory] = useState(false);
  const [lastDone, setLastDone] = useState<DoneEvent | null>(null);
  const [historyTick, setHistoryTick] = useState(0);
  const abortRef = useRef<AbortController | null>(null);
  const pendingTokens = useRef("");
  const frame = useRef<number | null>(null);
  const stepClock = useRef(0);
  const finished = useRef(false);
  const onTurnDoneRef = useRef(onTurnDone);
  onTurnDoneRef.current = onTurnDone;
  // A session created in the browser has nothing on the server yet: skip the (404) fetch.
  const freshRef = useRef(fresh);
  freshRef.current = fresh;

  useEffect(() => {
    abortRef.current?.abort();
    let live = true;
    setStreaming(false);
    setBanner(null);
    setSteps(idleSteps());
    setLastDone(null);
    if (freshRef.current) {
      setMessages([]);
      setLoadingHistory(false);
      return;
    }
    setLoadingHistory(true);
    getSession(sessionId)
      .then((view) => live && setMessages(view.turns.map(fromTurn)))
      .catch((error: unknown) => {
        if (!live) return;
        setMessages([]);
        if (!(error instanceof ApiError && error.status === 404)) {
          setBanner({ message: errorText(error), code: "load_failed" });
        }
      })
      .finally(() => live && setLoadingHistory(false));
    return () => {
      live = false;
    };
  }, [sessionId, historyTick]);

  useEffect(() => () => abortRef.current?.abort(), []);

  const flushTokens = useCallback(() => {
    frame.current = null;
    const text = pendingTokens.current;
    pendingTokens.current = "";
    if (text) setMessages((current) => patchLast(current, (last) => ({ content: last.content + text })));
  }, []);

  const dropTokens = useCallback(() => {
    if (frame.current !== null) cancelAnimationFrame(frame.current);
    frame.current = null;
    pendingTokens.current = "";
  }, []);

  const handleEvent = useCallback(
    (event: ChatEvent) => {
      switch (event.type) {
        case "step": {
          const step = event.step;
          if ((STEP_NAMES as readonly string[]).includes(step)) {
            setSteps((current) => completeStep(current, step, stepClock.current));
            stepClock.current = performance.now();
          }
          break;
        }
        case "token":
          pendingTokens.current += event.content;
          if (frame.current === null) frame.current = requestAnimationFrame(flushTokens);
          break;
        case "answer":
          dropTokens();
          setMessages((current) => patchLast(current, () => ({ content: event.content })));
          break;
        case "done": {
          finished.current = true;
          dropTokens();
          const trace = event.trace;
          setMessages((current) =>
            patchLast(current, () => ({
              streaming: false,
              provenance: trace.synthesizer?.provenance ?? [],
              usageLogId: trace.search_coordinator?.usage_log_id ?? null,
            })),
          );
          setLastDone(event);
          onTurnDoneRef.current(event);
          break;
        }
        case "error":
          finished.current = true;
          flushTokens();
          setSteps((current) => failStep(current, event.step));
          setMessages((current) => patchLast(current, () => ({ streaming: false, failed: true })));
          setBanner({ message: event.message, code: event.code, traceId: event.trace_id });
          break;
      }
    },
    [dropTokens, flushTokens],
  );

  const send = useCallback(
    async (text: string) => {
      const controller = new AbortController();
      abortRef.current?.abort();
      abortRef.current = controller;
      setBanner(null);
      setStreaming(true);
      setLastDone(null);
      stepClock.current = performance.now();
      finished.current = false;
      setSteps({ ...idleSteps(), wm_manager: { status: "running", ms: null } });
      setMessages((current) => {
        const index = nextTurnIndex(current);
        const user: Message = { ...fromTurn({ turn_index: index, role: "user", content: text } as Turn), key: freshKey("user") };
        const assistant: Message = { ...user, key: freshKey("assistant"), role: "assistant", content: "", turnIndex: index + 1, streaming: true };
        return [...current, user, assistant];
      });
      try {
        await streamChat({ session_id: sessionId, message: text }, handleEvent, controller.signal);
        if (!finished.current && !controller.signal.aborted) {
          throw new Error("The connection closed before the answer was complete.");
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        setSteps((current) => failStep(current, undefined));
        setMessages((current) => patchLast(current, () => ({ streaming: false, failed: true })));
        setBanner({ message: errorText(error), code: error instanceof ApiError ? error.code : "network_error" });
      } finally {
        if (abortRef.current === controller) {
          flushTokens();
          setMessages((current) => patchLast(current, () => ({ streaming: false })));
          setStreaming(false);
        }
      }
    },
    [flushTokens, handleEvent, sessionId],
  );

  return {
    messages,
    steps,
    streaming,
    banner,
    loadingHistory,
    lastDone,
    send,
    dismissBanner: () => setBanner(null),
    reloadHistory: () => setHistoryTick((value) => value + 1),
  };
}
