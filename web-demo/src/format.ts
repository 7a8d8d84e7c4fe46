// Small display helpers shared by the views.

/** Server timestamps are UTC ISO strings; show them in the browser's local time. */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.min(100, Math.round((part / whole) * 1000) / 10) : 0;
}

/** A random session id; `crypto.randomUUID` only exists in secure contexts. */
export function newSessionId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export const MEMORY_TYPE_COLORS: Record<string, string> = {
  fact: "#2f6fde",
  preference: "#d6336c",
  event: "#f08c00",
  constraint: "#c92a2a",
  procedure: "#2b8a3e",
  failure_pattern: "#862e9c",
  tool_affordance: "#0b7285",
  composite_preference: "#a61e4d",
  composite_constraint: "#8f1d1d",
  composite_event: "#b35c00",
  usage_pattern: "#1b5e2b",
  composite_pattern: "#495057",
};

export const typeColor = (memoryType: string): string => MEMORY_TYPE_COLORS[memoryType] ?? "#868e96";

export const NETWORK_MESSAGE = "Can't reach the LycheeMem server. Check your connection and that the server is running, then try again.";

/** A message a person can read: fetch's "Failed to fetch" becomes a sentence about the connection. */
export function errorText(error: unknown): string {
  if (error instanceof TypeError) return NETWORK_MESSAGE;
  return error instanceof Error ? error.message : String(error);
}

/** "7 Dec 2026" for an ISO date or timestamp; "" when it is not a date. */
export function shortDate(value: string | null | undefined): string {
  if (!value) return "";
  const date = new Date(value.length === 10 ? `${value}T12:00:00` : value);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}
