import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, it } from "node:test";

import { McpClient, parseSseData, PROTOCOL_VERSION } from "../src/mcp-client.ts";
import { AUTH_REJECTED, TransportError } from "../src/transport.ts";

interface Seen {
  method: string;
  headers: IncomingMessage["headers"];
}

/**
 * A tiny MCP endpoint that speaks just enough of the wire protocol to exercise the client's
 * parsing: `mode` picks JSON or SSE replies; `expireNext` makes the next tools/call a 404.
 */
class StubServer {
  server: Server = createServer((req, res) => void this.handle(req, res));
  seen: Seen[] = [];
  mode: "json" | "sse" = "json";
  expireNext = false;
  rejectAuth = false;
  sessions = 0;
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    const message = raw ? JSON.parse(raw) : {};
    this.seen.push({ method: message.method ?? req.method, headers: req.headers });
    if (this.rejectAuth) return void res.writeHead(401).end();
    if (message.method === "initialize") {
      this.sessions += 1;
      res.setHeader("Mcp-Session-Id", `session-${this.sessions}`);
      return this.reply(res, message.id, { protocolVersion: "2025-03-26", capabilities: { tools: {} }, serverInfo: { name: "stub" } });
    }
    if (message.method === "notifications/initialized") return void res.writeHead(202).end();
    if (req.headers["mcp-session-id"] !== `session-${this.sessions}` || this.expireNext) {
      this.expireNext = false;
      return void res.writeHead(404).end();
    }
    const structured = { echoed: message.params.arguments };
    return this.reply(res, message.id, {
      content: [{ type: "text", text: JSON.stringify(structured) }],
      structuredContent: structured,
      isError: message.params.arguments?.fail === true,
    });
  }

  reply(res: ServerResponse, id: number, result: unknown): void {
    const body = { jsonrpc: "2.0", id, result };
    if (this.mode === "json") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      return;
    }
    const note = { jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x" } };
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.end(`: keep-alive\n\nevent: message\ndata: ${JSON.stringify(note)}\n\nevent: message\nid: 1\ndata: ${JSON.stringify(body)}\n\n`);
  }
}

describe("MCP client against a stub endpoint", () => {
  const stub = new StubServer();
  before(() => stub.start());
  after(() => new Promise<void>((resolve) => stub.server.close(() => resolve())));
  beforeEach(() => {
    stub.seen = [];
    stub.mode = "json";
    stub.rejectAuth = false;
  });

  const client = (token = "tok") => new McpClient({ baseUrl: stub.url, token, timeoutMs: 5_000 });

  it("handshakes, then calls tools with the session headers (JSON replies)", async () => {
    const mcp = client();
    const out = await mcp.call("lychee_memory_search", { query: "tea" });
    assert.deepEqual(out.structuredContent, { echoed: { query: "tea" } });
    assert.deepEqual(stub.seen.map((s) => s.method), ["initialize", "notifications/initialized", "tools/call"]);
    const [init, notified, call] = stub.seen;
    assert.equal(init!.headers["mcp-session-id"], undefined);
    assert.equal(init!.headers["mcp-protocol-version"], PROTOCOL_VERSION);
    assert.equal(notified!.headers["mcp-session-id"], mcp.sessionId);
    assert.equal(call!.headers["mcp-session-id"], mcp.sessionId);
    assert.equal(call!.headers["mcp-protocol-version"], "2025-03-26"); // negotiated
    assert.equal(call!.headers.authorization, "Bearer tok");
    assert.equal(call!.headers.accept, "application/json, text/event-stream");
    assert.equal(call!.headers["content-type"], "application/json");
  });

  it("parses SSE replies, skipping keep-alives and notifications", async () => {
    stub.mode = "sse";
    const out = await client().call("lychee_memory_search", { query: "sse" });
    assert.deepEqual(out.structuredContent, { echoed: { query: "sse" } });
    assert.deepEqual(parseSseData("data: {\"a\":1}\r\n\r\n: ping\n\ndata: [1,\ndata: 2]\n\n"), [{ a: 1 }, [1, 2]]);
  });

  it("re-initializes once on 404 and retries the call", async () => {
    const mcp = client();
    await mcp.call("lychee_memory_search", { query: "one" });
    const before = mcp.sessionId;
    stub.expireNext = true;
    stub.seen = [];
    const out = await mcp.call("lychee_memory_search", { query: "two" });
    assert.deepEqual(out.structuredContent, { echoed: { query: "two" } });
    assert.notEqual(mcp.sessionId, before);
    assert.deepEqual(stub.seen.map((s) => s.method), ["tools/call", "initialize", "notifications/initialized", "tools/call"]);
  });

  it("turns isError results into errors carrying the tool's message", async () => {
    await assert.rejects(client().call("lychee_memory_search", { fail: true }), (error: unknown) => {
      assert.ok(error instanceof TransportError);
      assert.match(error.message, /"fail":true/);
      return true;
    });
  });

  it("reports a rejected token", async () => {
    stub.rejectAuth = true;
    await assert.rejects(client("bad").call("lychee_memory_search", { query: "x" }), { message: AUTH_REJECTED });
  });

  it("omits Authorization without a token", async () => {
    await client("").call("lychee_memory_search", { query: "x" });
    assert.ok(stub.seen.every((seen) => seen.headers.authorization === undefined));
  });
});
