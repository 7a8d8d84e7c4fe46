// Readable citations: the memory-only answer lists memories as
// `[n] (<type>; <date>; session <id> turn <i>) <text>`; the chat shows `[n] <text>` with a chip
// naming the source session and date instead, and leaves the ids to the inspector.
import type { SessionSummary, SynthesisProvenance } from "./api/models";
import { shortDate, truncate } from "./format";

const FRAGMENT_HEADER = /^\[(\d{1,3})\] \(([^)\n]*)\) /gm;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const SKILL_SUFFIX = / \(skill [0-9a-f]{1,8}…?\)$/gm;

export interface TidyAnswer {
  text: string;
  /** The date each numbered memory line carried, by citation number. */
  dates: Map<number, string>;
}

/** Drop the bracketed type/date/session/turn header of each cited line (and skill ids). */
export function tidyAnswer(text: string): TidyAnswer {
  const dates = new Map<number, string>();
  const tidy = text
    .replace(FRAGMENT_HEADER, (_whole, digits: string, header: string) => {
      const date = header.split(";").map((part) => part.trim()).find((part) => ISO_DATE.test(part));
      if (date) dates.set(Number(digits), date);
      return `[${digits}] `;
    })
    .replace(SKILL_SUFFIX, "");
  return { text: tidy, dates };
}

/** The chip label of one citation: source session title and date, or the skill's intent. */
export function citationLabel(item: SynthesisProvenance | undefined, date: string | undefined, sessions: readonly SessionSummary[]): string {
  if (!item) return "";
  if (item.source === "skill") return `skill: ${truncate(item.intent ?? "", 32)}`;
  const sessionId = item.source_session_id ?? item.sources?.[0]?.session_id ?? null;
  const title = sessionId ? (sessions.find((session) => session.session_id === sessionId)?.title ?? "deleted session") : (item.memory_type ?? "memory");
  return [truncate(title, 28), shortDate(date)].filter(Boolean).join(" · ");
}
