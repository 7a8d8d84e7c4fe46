/** Text handling: message text extraction, slash commands, long-term signals, escaping. */

/** The text of a message `content`: a string, or the `text` parts of a part list joined. */
export function extractText(content: unknown): string {
  if (typeof content === "string") return content.trim();
  if (!Array.isArray(content)) return "";
  const parts: string[] = [];
  for (const part of content) {
    if (typeof part === "string") parts.push(part);
    else if (part && typeof part === "object" && (part as { type?: unknown }).type === "text") {
      const text = (part as { text?: unknown }).text;
      if (typeof text === "string") parts.push(text);
    }
  }
  return parts.join("\n").trim();
}

/** True for host commands such as `/new` or `/reset`: never stored as memory. */
export function isSlashCommand(text: string): boolean {
  return text.trimStart().startsWith("/");
}

const SIGNAL_EN =
  /\b(remember|keep in mind|from now on|by default|i prefer|always|never|must|policy|rules?)\b/i;
const SIGNAL_ZH = /记住|以后|默认|规则|必须|偏好|流程/;

/** True when a user turn states something meant to last (a preference, a rule, a procedure). */
export function hasLongTermSignal(text: string): boolean {
  return SIGNAL_EN.test(text) || SIGNAL_ZH.test(text);
}

/** Escape text for embedding inside an XML-like tag (no tag can be closed or opened). */
export function escapeMarkup(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `text` cut to at most `max` characters (by code point), with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}
