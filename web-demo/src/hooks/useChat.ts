import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { getSession } from "../api/endpoints";
import { STEP_NAMES, asFeedbackLabel } from "../api/models";
import type { ChatEvent, DoneEvent, FeedbackLabel, PipelineTrace, SessionView, StepName, SynthesisProvenance, Turn } from "../api/models";
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
  feedback: FeedbackLabel | null;
  mode: "llm" | "memory_only" | null;
  failed: boolean;
}

export interface ChatBanner {
  message: string;
  traceId?: string;
  /** The message to send again when the failure may be temporary. */
  retryText?: string;
}

/** The trace of the session's latest answer: live from the stream, or loaded with the history. */
export interface LastTurn {
  trace: PipelineTrace;
  mode: "llm" | "memory_only";
  /** Set for a turn answered in this page; history carries no consolidation job. */
  consolidationJobId: string | null;
  live: boolean;
  /** Increments per answer so a repeated identical trace still counts as new. */
  serial: number;
}

const idleSteps = (): Steps =>
  Object.fromEntries(STEP_NAMES.map((name) => [name, { status: "pending", ms: null }])) as Steps;
const doneSteps = (): Steps =>
  Object.fromEntries(STEP_NAMES.map((name) => [name, { status: "done", ms: null }])) as Steps;

function fromTurn(turn: Turn, feedback: SessionView["feedback"]): Message {
  const answer = turn.metadata?.answer;
  const usageLogId = answer?.usage_log_id ?? null;
  return {
    key: `turn-${turn.turn_index}`,
    role: turn.role,
    content: turn.content,
    turnIndex: turn.turn_index,
    streaming: false,
    provenance: answer?.trace?.synthesizer?.provenance ?? [],
    usageLogId,
    feedback: usageLogId ? asFeedbackLabel(feedback?.[usageLogId]) : null,
    mode: answer?.mode ?? null,
    failed: false,
  };
}

/** The last answered turn of a loaded session, for the pipeline panel. */
function lastTurnOf(view: SessionView, serial: number): LastTurn | null {
  const turn = [...view.turns].reverse().find((entry) => entry.role === "assistant" && entry.metadata?.answer);
  const answer = turn?.metadata?.answer;
  return answer ? { trace: answer.trace, mode: answer.mode, consolidationJobId: null, live: false, serial } : null;
}

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

/** After a failure: an assistant bubble with no text is dropped, never left empty. */
function settleFailure(messages: Message[]): Message[] {
  const last = messages[messages.length - 1];
  if (!last || last.role !== "assistant") return messages;
  if (last.content.trim()) return [...messages.slice(0, -1), { ...last, streaming: false, failed: true }];
  const rest = messages.slice(0, -1);
  const user = rest[rest.length - 1];
  return user?.role === "user" ? [...rest.slice(0, -1), { ...user, failed: true }] : rest;
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

/** The banner text for a failed turn; the server's code stays out of the sentence. */
function failureText(code: string, message: string): string {
  if (code === "llm_error") return `The language model did not answer: ${message}. Try again in a moment.`;
  if (code === "internal_error") return "Something went wrong on the server while answering. Try again; if it keeps failing, check the server log.";
  return message;
}

export interface ChatState {
  messages: Message[];
  steps: Steps;
  streaming: boolean;
  banner: ChatBanner | null;
  loadingHistory: boolean;
  lastTurn: LastTurn | null;
  /** A short sentence for the screen reader live region (answer started / ready / failed). */
  announcement: string;
  send: (text: string) => Promise<void>;
  retry: () => void;
  dismissBanner: () => void;
  reloadHistory: () => void;
}

/** Chat of one session: history (with citations, feedback and the last trace) from the server, streaming turns over SSE. */
export function useChat(sessionId: string, fresh: boolean, onTurnDone: (done: DoneEvent) => void): ChatState {
  const [messages, setMessages] = useState<Message[]>([]);
  const [steps, setSteps] = useState<Steps>(idleSteps);
  const [streaming, setStreaming] = useState(false);
  const [banner, setBanner] = useState<ChatBanner | null>(null);
  const [loadingHistory, setLoadingHistory] = useState(false);
  const [lastTurn, setLastTurn] = useState<LastTurn | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [historyTick, setHistoryTick] = useState(0);
  const abortRef = useRef<AbortController | null>(null);
  const pendingTokens = useRef("");
  const frame = useRef<number | null>(null);
  const stepClock = useRef(0);
  const finished = useRef(false);
  const serial = useRef(0);
  const sentText = useRef("");
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
    setLastTurn(null);
    if (freshRef.current) {
      setMessages([]);
      setLoadingHistory(false);
      return;
    }
    // The previous session's turns must not linger (or be highlighted) while this one loads.
    setMessages([]);
    setLoadingHistory(true);
    getSession(sessionId)
      .then((view) => {
        if (!live) return;
        setMessages(view.turns.map((turn) => fromTurn(turn, view.feedback)));
        const last = lastTurnOf(view, ++serial.current);
        setLastTurn(last);
        if (last) setSteps(doneSteps());
      })
      .catch((error: unknown) => {
        if (!live) return;
        setMessages([]);
        if (!(error instanceof ApiError && error.status === 404)) {
          setBanner({ message: `The conversation could not be loaded. ${errorText(error)}` });
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
              mode: event.mode,
            })),
          );
          setLastTurn({ trace, mode: event.mode, consolidationJobId: event.consolidation_job_id, live: true, serial: ++serial.current });
          setAnnouncement(event.mode === "memory_only" ? "Answer ready: stored memories for your message." : "Answer ready.");
          onTurnDoneRef.current(event);
          break;
        }
        case "error":
          finished.current = true;
          flushTokens();
          setSteps((current) => failStep(current, event.step));
          setMessages(settleFailure);
          setBanner({
            message: failureText(event.code, event.message),
            traceId: event.trace_id,
            retryText: event.retryable === false ? undefined : sentText.current,
          });
          setAnnouncement("The answer failed.");
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
      sentText.current = text;
      setBanner(null);
      setStreaming(true);
      setAnnouncement("Sending…");
      stepClock.current = performance.now();
      finished.current = false;
      setSteps({ ...idleSteps(), wm_manager: { status: "running", ms: null } });
      setMessages((current) => {
        const index = nextTurnIndex(current);
        const user: Message = {
          key: freshKey("user"),
          role: "user",
          content: text,
          turnIndex: index,
          streaming: false,
          provenance: [],
          usageLogId: null,
          feedback: null,
          mode: null,
          failed: false,
        };
        const assistant: Message = { ...user, key: freshKey("assistant"), role: "assistant", content: "", turnIndex: index + 1, streaming: true };
        return [...current, user, assistant];
      });
      try {
        await streamChat({ session_id: sessionId, message: text }, handleEvent, controller.signal);
        if (!finished.current && !controller.signal.aborted) {
          throw new Error("The connection closed before the answer was complete. Try again.");
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        setSteps((current) => failStep(current, undefined));
        setMessages(settleFailure);
        const retryable = !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
        setBanner({ message: errorText(error), retryText: retryable ? text : undefined });
        setAnnouncement("The answer failed.");
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

  const retry = useCallback(() => {
    const text = banner?.retryText;
    if (!text) return;
    // The unanswered message is sent again as a new turn; drop its failed copy from view.
    setMessages((current) => {
      const last = current[current.length - 1];
      return last?.role === "user" && last.failed ? current.slice(0, -1) : current;
    });
    void send(text);
  }, [banner, send]);

  return {
    messages,
    steps,
    streaming,
    banner,
    loadingHistory,
    lastTurn,
    announcement,
    send,
    retry,
    dismissBanner: () => setBanner(null),
    reloadHistory: () => setHistoryTick((value) => value + 1),
  };
}
