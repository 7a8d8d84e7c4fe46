// A small fetch wrapper: bearer token from localStorage, one error type, one 401 policy.
import { clearAuth, readToken } from "../auth";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorizedHandler: () => void = () => undefined;

/** Called on any 401 from a request that carried (or needed) a token. */
export function setUnauthorizedHandler(handler: () => void): void {
  unauthorizedHandler = handler;
}

export function authHeaders(): Record<string, string> {
  const token = readToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

interface ValidationEntry {
  loc?: unknown[];
  msg?: string;
  type?: string;
  ctx?: { min_length?: number; max_length?: number; ge?: number; le?: number };
}

const FIELD_LABELS: Record<string, string> = {
  username: "Username",
  password: "Password",
  display_name: "Display name",
  message: "Message",
  topic: "Title",
  session_id: "Session",
};

/** One validation problem as a sentence a person can act on (not the validator's wording). */
export function validationSentence(entry: ValidationEntry): string {
  const name = String(entry.loc?.filter((part) => part !== "body" && part !== "query").at(-1) ?? "");
  const label = FIELD_LABELS[name] ?? (name ? name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ") : "A value");
  // The server's body may leave out `ctx`; the limit is then read from the message.
  const limit = Number(/\d+/.exec(entry.msg ?? "")?.[0] ?? NaN);
  const ctx = { min_length: limit, max_length: limit, ...(entry.ctx ?? {}) };
  switch (entry.type) {
    case "missing":
      return `${label} is required.`;
    case "string_too_short":
      return ctx.min_length > 1 ? `${label} must be at least ${ctx.min_length} characters long.` : `${label} is required.`;
    case "string_too_long":
      return Number.isFinite(ctx.max_length) ? `${label} can be at most ${ctx.max_length} characters long.` : `${label} is too long.`;
    case "string_pattern_mismatch":
      return name === "username"
        ? "Username may contain only letters, digits and the characters . _ @ -"
        : `${label} contains characters that are not allowed.`;
    default:
      return `${label} is not valid.`;
  }
}

function detailText(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((item) => validationSentence(item as ValidationEntry)).join(" ");
  return "";
}

/** A sentence for an HTTP status when the server gave no readable detail. */
function statusSentence(status: number): string {
  if (status === 401) return "You are not signed in.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "That item no longer exists.";
  if (status === 413) return "That is too large for the server to accept.";
  if (status === 429) return "The server is busy. Wait a moment and try again.";
  if (status >= 500) return `The server ran into a problem (HTTP ${status}). Try again in a moment.`;
  return `The request was refused (HTTP ${status}).`;
}

/** Turn a non-2xx response into an ApiError; a 401 outside login clears the stored session. */
export async function failure(response: Response, path: string): Promise<ApiError> {
  let body: { detail?: unknown; code?: string } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    body = {};
  }
  // A 5xx detail is an internal message; people get a plain sentence instead.
  const detail = response.status < 500 ? detailText(body.detail) : "";
  const message = detail || statusSentence(response.status);
  if (response.status === 401 && !path.startsWith("/auth/login") && !path.startsWith("/auth/register")) {
    clearAuth();
    unauthorizedHandler();
  }
  return new ApiError(response.status, body.code ?? "http_error", message);
}

export async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response, path);
  return response;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  return (await response.json()) as T;
}

export const getJson = <T>(path: string): Promise<T> => api<T>("GET", path);

export function query(params: Record<string, string | number | boolean | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
