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

function detailText(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const entry = item as { loc?: unknown[]; msg?: string };
        const field = entry.loc ? entry.loc.filter((part) => part !== "body").join(".") : "";
        return field ? `${field}: ${entry.msg ?? ""}` : (entry.msg ?? "");
      })
      .join("; ");
  }
  return "";
}

/** Turn a non-2xx response into an ApiError; a 401 outside login clears the stored session. */
export async function failure(response: Response, path: string): Promise<ApiError> {
  let body: { detail?: unknown; code?: string } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    body = {};
  }
  const message = detailText(body.detail) || `${response.status} ${response.statusText}`;
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
