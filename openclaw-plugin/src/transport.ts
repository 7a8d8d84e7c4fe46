/**
 * What the tools and hooks need from the server: call one of the five memory tools and get the
 * REST-shaped response object back. Both transports (MCP and REST) implement it.
 */

import type { PluginConfig } from "./config.ts";
import { HttpTransport } from "./http-client.ts";
import { McpClient } from "./mcp-client.ts";

export const TOOL_NAMES = [
  "lychee_memory_smart_search",
  "lychee_memory_search",
  "lychee_memory_append_turn",
  "lychee_memory_synthesize",
  "lychee_memory_consolidate",
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

/** A successful call: the response object and the text the model sees. */
export interface CallOutcome {
  structuredContent: Record<string, unknown>;
  text: string;
}

export interface MemoryTransport {
  /**
   * Call `name` with `args`. Resolves with the response object; rejects with `TransportError`
   * for tool errors (bad arguments, unknown session), HTTP errors, timeouts and network failures.
   */
  call(name: ToolName, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallOutcome>;
  /** Release server-side resources (the MCP session); never rejects. */
  close(): Promise<void>;
}

export class TransportError extends Error {
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** True for network failures, timeouts and 5xx: worth one retry. */
  readonly retryable: boolean;

  constructor(message: string, options: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "TransportError";
    this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

export const AUTH_REJECTED = "LycheeMem rejected the API token";

/** Wrap a fetch failure (network error, abort, timeout) as a retryable `TransportError`. */
export function networkError(url: string, error: unknown): TransportError {
  const reason =
    error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")
      ? "request timed out"
      : error instanceof Error
        ? (error.cause instanceof Error ? error.cause.message : error.message)
        : String(error);
  return new TransportError(`LycheeMem unreachable at ${url}: ${reason}`, { retryable: true, cause: error });
}

/** A signal that aborts after `timeoutMs` or when `signal` aborts. */
export function withTimeout(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

/** Common request headers; `Authorization` only when a token is set. */
export function baseHeaders(token: string): Record<string, string> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

export function createTransport(config: PluginConfig, timeoutMs = config.timeout * 1000): MemoryTransport {
  const options = { baseUrl: config.baseUrl, token: config.apiToken, timeoutMs };
  return config.transport === "http" ? new HttpTransport(options) : new McpClient(options);
}
