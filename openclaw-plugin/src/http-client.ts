/** REST transport: POST JSON to the `/memory/*` routes (API.md §6–7). */

import {
  AUTH_REJECTED,
  baseHeaders,
  networkError,
  TransportError,
  withTimeout,
  type CallOutcome,
  type MemoryTransport,
  type ToolName,
} from "./transport.ts";

const ROUTES: Record<ToolName, string> = {
  lychee_memory_smart_search: "/memory/smart-search",
  lychee_memory_search: "/memory/search",
  lychee_memory_append_turn: "/memory/append-turn",
  lychee_memory_synthesize: "/memory/synthesize",
  lychee_memory_consolidate: "/memory/consolidate",
};

export interface ClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs: number;
}

/** The `detail` of an error body as one line: a string, or the invalid fields of a 422. */
export function describeDetail(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = detail.map((item: { loc?: unknown[]; msg?: string }) => {
      const loc = Array.isArray(item?.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
      return loc ? `${loc}: ${item?.msg ?? "invalid"}` : (item?.msg ?? "invalid");
    });
    return `Invalid arguments: ${parts.join("; ")}`;
  }
  return `HTTP ${status}`;
}

export class HttpTransport implements MemoryTransport {
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    this.#options = options;
  }

  async call(name: ToolName, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallOutcome> {
    const url = `${this.#options.baseUrl}${ROUTES[name]}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: baseHeaders(this.#options.token),
        body: JSON.stringify(args),
        signal: withTimeout(this.#options.timeoutMs, signal),
      });
    } catch (error) {
      throw networkError(this.#options.baseUrl, error);
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (response.status === 401) throw new TransportError(AUTH_REJECTED, { status: 401 });
    if (!response.ok) {
      throw new TransportError(describeDetail(body, response.status), {
        status: response.status,
        retryable: response.status >= 500,
      });
    }
    if (typeof body !== "object" || body === null) {
      throw new TransportError(`LycheeMem answered ${ROUTES[name]} with a non-JSON body`, { status: response.status });
    }
    return { structuredContent: body as Record<string, unknown>, text };
  }

  async close(): Promise<void> {}
}
