import { useEffect, useRef, useState } from "react";
import { lastConsolidation } from "../api/endpoints";
import type { ConsolidationStatus } from "../api/models";
import { errorText } from "../format";
import type { LastTurn } from "./useChat";

const POLL_START_MS = 1500;
const POLL_MAX_MS = 8000;
const POLL_LIMIT_MS = 120000;

/** What the chat and the pipeline panel say about the consolidation of the latest turn. */
export interface ConsolidationState {
  /** "idle": no live turn; "queued": waiting for the job; then the job's own outcome. */
  phase: "idle" | "queued" | "done" | "skipped" | "failed" | "disabled" | "unknown";
  result: ConsolidationStatus | null;
  error: string | null;
}

const IDLE: ConsolidationState = { phase: "idle", result: null, error: null };

/**
 * After a live turn, poll the session's last consolidation (1.5 s growing to 8 s, at most 2
 * minutes) until it is no longer pending; `onSettled` runs once when it finishes.
 */
export function useConsolidation(sessionId: string, turn: LastTurn | null, onSettled: () => void): ConsolidationState {
  const [state, setState] = useState<ConsolidationState>(IDLE);
  const settledRef = useRef(onSettled);
  settledRef.current = onSettled;
  useEffect(() => {
    if (!turn?.live) {
      setState(IDLE);
      return;
    }
    if (!turn.consolidationJobId) {
      setState({ phase: "disabled", result: null, error: null });
      return;
    }
    setState({ phase: "queued", result: null, error: null });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;
    const started = Date.now();
    const poll = async (delay: number) => {
      try {
        const status = await lastConsolidation(sessionId);
        if (!live) return;
        // An older job of the session may still be reported until this turn's job is listed.
        const stale = status.job_id !== null && status.job_id !== turn.consolidationJobId;
        const waiting = status.status === "pending" || status.status === "running" || status.status === "none" || stale;
        if (!waiting) {
          setState({ phase: status.status as ConsolidationState["phase"], result: status, error: null });
          settledRef.current();
          return;
        }
        setState({ phase: "queued", result: status, error: null });
      } catch (reason) {
        if (live) setState((current) => ({ ...current, error: errorText(reason) }));
      }
      if (!live) return;
      if (Date.now() - started < POLL_LIMIT_MS) {
        timer = setTimeout(() => void poll(Math.min(delay * 1.5, POLL_MAX_MS)), delay);
      } else {
        setState((current) => ({ ...current, phase: "unknown" }));
      }
    };
    timer = setTimeout(() => void poll(POLL_START_MS), 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [sessionId, turn]);
  return state;
}

const SKIP_REASONS: Record<string, string> = {
  no_novelty: "it adds nothing that memory does not already hold",
  no_new_turns: "no new turns since the last run",
  session_deleted: "the session was deleted",
};

/** A skipped job's reason in words (unknown codes pass through). */
export const skipReason = (code: string | null | undefined): string => (code ? (SKIP_REASONS[code] ?? code.replace(/_/g, " ")) : "");

/** One line for the chat: what happened to the turn and what consolidation made of it. */
export function consolidationSentence(state: ConsolidationState): string {
  const result = state.result;
  switch (state.phase) {
    case "queued":
      return "Turn stored · consolidation queued: it becomes memory in a few seconds";
    case "done": {
      if (!result) return "Turn stored · consolidation done";
      const parts = [`${result.records_added} new record${result.records_added === 1 ? "" : "s"}`];
      if (result.records_merged) parts.push(`${result.records_merged} merged`);
      if (result.records_updated) parts.push(`${result.records_updated} updated`);
      if (result.skills_added) parts.push(`${result.skills_added} skill${result.skills_added === 1 ? "" : "s"}`);
      return `Turn stored · consolidation done: ${parts.join(", ")}`;
    }
    case "skipped":
      return `Turn stored · nothing new to remember${result?.skipped_reason ? `: ${skipReason(result.skipped_reason)}` : ""}`;
    case "failed":
      return "Turn stored · consolidation failed (see the Pipeline panel)";
    case "disabled":
      return "Turn stored · automatic consolidation is off on this server";
    case "unknown":
      return "Turn stored · consolidation is still running";
    default:
      return "";
  }
}
