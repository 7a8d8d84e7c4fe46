/**
 * A small streamable-HTTP MCP client over `fetch` (MCP 2025-06-18 transport): `initialize`,
 * `notifications/initialized`, then `tools/call` with the session id and protocol version on
 * every request. Responses may be plain JSON or an SSE stream; a 404 (expired session)
 * re-initializes once and retries.
 */

import { PLUGIN_VERSION } from "./config.ts";
import type { ClientOptions } from "./http-client.ts";
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

export const PROTOCOL_VERSION = "2025-06-18";

interface JsonRpcResponse {
  jsonrpc: "2.0";
  id?: number | string | null;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** Parse an SSE body into the JSON payloads of its `data:` fields, one per event. */
export function parseSseData(body: string): unknown[] {
  const messages: unknown[] = [];
  for (const block of body.replace(/\r\n?/g, "\n").split("\n\n")) {
    const data = block
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (data.trim() === "") continue;
    try {
      messages.push(JSON.parse(data));
    } catch {
      // a keep-alive or a non-JSON event: not a JSON-RPC message
    }
  }
  return messages;
}

/** The JSON-RPC response with `id` in a JSON or SSE body, or `undefined`. */
export function findResponse(body: string, contentType: string, id: number): JsonRpcResponse | undefined {
  const candidates = contentType.includes("text/event-stream")
    ? parseSseData(body)
    : ([JSON.parse(body)] as unknown[]).flat();
  return candidates.find(
    (message): message is JsonRpcResponse =>
      typeof message === "object" && message !== null && (message as JsonRpcResponse).id === id,
  );
}

class SessionExpired extends Error {
  constructor(readonly sessionId: string) {
    super(`MCP session ${sessionId} expired`);
  }
}

export class McpClient implements MemoryTransport {
  readonly #options: ClientOptions;
  readonly #url: string;
  #sessionId: string | undefined;
  #protocolVersion = PROTOCOL_VERSION;
  #ready: Promise<void> | undefined;
  #nextId = 1;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#url = `${options.baseUrl}/mcp`;
  }

  /** The `Mcp-Session-Id` of the current session, if initialized. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  async call(name: ToolName, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallOutcome> {
    try {
      return await this.#callOnce(name, args, signal);
    } catch (error) {
      if (!(error instanceof SessionExpired)) throw error;
      // Concurrent calls may all see the 404; only the first one starts a new session.
      if (this.#sessionId === error.sessionId) this.#reset();
      try {
        return await this.#callOnce(name, args, signal);
      } catch (retryError) {
        if (retryError instanceof SessionExpired) {
          throw new TransportError("LycheeMem MCP session expired twice", { status: 404 });
        }
        throw retryError;
      }
    }
  }

  /** End the MCP session (`DELETE /mcp`); errors are ignored. */
  async close(): Promise<void> {
    const sessionId = this.#sessionId;
    this.#reset();
    if (!sessionId) return;
    try {
      await fetch(this.#url, {
        method: "DELETE",
        headers: { ...this.#headers(), "Mcp-Session-Id": sessionId },
        signal: AbortSignal.timeout(2000),
      });
    } catch {
      // the server may be gone already
    }
  }

  #reset(): void {
    this.#sessionId = undefined;
    this.#ready = undefined;
    this.#protocolVersion = PROTOCOL_VERSION;
  }

  async #callOnce(name: ToolName, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallOutcome> {
    await this.#initialize(signal);
    const result = await this.#request("tools/call", { name, arguments: args }, signal);
    const content = Array.isArray(result.content) ? (result.content as { type?: string; text?: string }[]) : [];
    const text = content
      .filter((item) => item?.type === "text" && typeof item.text === "string")
      .map((item) => item.text)
      .join("\n");
    if (result.isError === true) throw new TransportError(text || `${name} failed`);
    const structured = result.structuredContent;
    if (typeof structured === "object" && structured !== null) {
      return { structuredContent: structured as Record<string, unknown>, text };
    }
    try {
      return { structuredContent: JSON.parse(text) as Record<string, unknown>, text };
    } catch {
      return { structuredContent: { text }, text };
    }
  }

  #initialize(signal?: AbortSignal): Promise<void> {
    this.#ready ??= this.#handshake(signal).catch((error: unknown) => {
      this.#reset();
      throw error;
    });
    return this.#ready;
  }

  async #handshake(signal?: AbortSignal): Promise<void> {
    const result = await this.#request(
      "initialize",
      {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: "lycheemem-openclaw", version: PLUGIN_VERSION },
      },
      signal,
    );
    if (typeof result.protocolVersion === "string") this.#protocolVersion = result.protocolVersion;
    const response = await this.#post({ jsonrpc: "2.0", method: "notifications/initialized" }, signal);
    await response.body?.cancel();
    if (response.status !== 202 && !response.ok) {
      throw new TransportError(`MCP notifications/initialized answered HTTP ${response.status}`, {
        status: response.status,
      });
    }
  }

  #headers(): Record<string, string> {
    return { ...baseHeaders(this.#options.token), "MCP-Protocol-Version": this.#protocolVersion };
  }

  async #post(message: Record<string, unknown>, signal?: AbortSignal): Promise<Response> {
    const headers = this.#headers();
    if (this.#sessionId) headers["Mcp-Session-Id"] = this.#sessionId;
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: "POST",
        headers,
        body: JSON.stringify(message),
        signal: withTimeout(this.#options.timeoutMs, signal),
      });
    } catch (error) {
      throw networkError(this.#options.baseUrl, error);
    }
    if (response.status === 401) {
      await response.body?.cancel();
      throw new TransportError(AUTH_REJECTED, { status: 401 });
    }
    const sessionId = headers["Mcp-Session-Id"];
    if (response.status === 404 && sessionId) {
      await response.body?.cancel();
      throw new SessionExpired(sessionId);
    }
    return response;
  }

  async #request(method: string, params: Record<string, unknown>, signal?: AbortSignal) {
    const id = this.#nextId++;
    const response = await this.#post({ jsonrpc: "2.0", id, method, params }, signal);
    let body: string;
    try {
      body = await response.text();
    } catch (error) {
      throw networkError(this.#options.baseUrl, error);
    }
    if (!response.ok) {
      throw new TransportError(`MCP ${method} answered HTTP ${response.status}: ${body.slice(0, 200)}`, {
        status: response.status,
        retryable: response.status >= 500,
      });
    }
    if (method === "initialize") {
      const sessionId = response.headers.get("mcp-session-id");
      if (sessionId) this.#sessionId = sessionId;
    }
    let message: JsonRpcResponse | undefined;
    try {
      message = findResponse(body, response.headers.get("content-type") ?? "", id);
    } catch (error) {
      throw new TransportError(`MCP ${method}: unreadable response`, { cause: error });
    }
    if (!message) throw new TransportError(`MCP ${method}: no response with id ${id}`);
    if (message.error) throw new TransportError(`MCP ${method} failed: ${message.error.message}`);
    return message.result ?? {};
  }
}
