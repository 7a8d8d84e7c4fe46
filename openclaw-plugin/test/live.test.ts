/**
 * The plugin against a real LycheeMem server, over both transports. Needs
 * LYCHEEMEM_TEST_BASE_URL and two user tokens (LYCHEEMEM_TEST_TOKEN_A / _B);
 * tests/e2e/test_openclaw_plugin.py starts a server and provides them.
 */

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { after, describe, it } from "node:test";

import plugin, { shutdown, whenIdle } from "../index.ts";
import { RESET_NOTE } from "../src/hooks.ts";
import { createFakeApi, type FakeApi } from "./fake-api.ts";
import { textOf } from "./support.ts";

const BASE = process.env.LYCHEEMEM_TEST_BASE_URL?.replace(/\/+$/, "");
const TOKEN_A = process.env.LYCHEEMEM_TEST_TOKEN_A;
const TOKEN_B = process.env.LYCHEEMEM_TEST_TOKEN_B;
const skip =
  BASE && TOKEN_A && TOKEN_B ? false : "set LYCHEEMEM_TEST_BASE_URL, LYCHEEMEM_TEST_TOKEN_A and LYCHEEMEM_TEST_TOKEN_B";

async function rest(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** What a search recalled (the query echo and the plan are left out). */
function recalled(details: unknown): string {
  const { background_context, provenance, semantic_results, novelty_retrieved_context } = details as Record<string, unknown>;
  return JSON.stringify({ background_context, provenance, semantic_results, novelty_retrieved_context });
}

const unique = () => randomUUID().replace(/-/g, "").slice(0, 10);

function sessionOf(result: unknown): string {
  const context = (result as { prependContext?: string } | undefined)?.prependContext ?? "";
  const match = /^LycheeMem session: (\S+)$/m.exec(context);
  assert.ok(match, `no session line in ${JSON.stringify(result)}`);
  return match[1]!;
}

/** Count the consolidate requests the plugin sends (the requests still reach the server). */
function countConsolidations(): { count: () => number; restore: () => void } {
  const original = globalThis.fetch;
  let count = 0;
  globalThis.fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = typeof init?.body === "string" ? init.body : "";
    if (url.endsWith("/memory/consolidate") || body.includes('"name":"lychee_memory_consolidate"')) count += 1;
    return original(input, init);
  };
  return { count: () => count, restore: () => void (globalThis.fetch = original) };
}

async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

for (const transport of ["mcp", "http"] as const) {
  describe(`live server over ${transport}`, { skip }, () => {
    const opened: FakeApi[] = [];
    after(() => Promise.all(opened.map((api) => shutdown(api))));

    function open(token: string, extra: Record<string, unknown> = {}): FakeApi {
      const api = createFakeApi({ baseUrl: BASE, apiToken: token, transport, timeout: 30, ...extra });
      plugin.register(api);
      opened.push(api);
      return api;
    }

    /** One exchange: a user turn without sessionKey, the run's prompt build, the assistant turn. */
    async function exchange(api: FakeApi, key: string, sessionId: string, user: string, assistant: string) {
      const conversation = key.split(":").at(-1)!;
      const ctx = { channelId: "telegram", conversationId: conversation };
      await api.emit("message_received", { from: conversation, content: user, messageId: `m-${unique()}`, timestamp: Date.now() }, ctx);
      const built = await api.emit("before_prompt_build", { prompt: user, messages: [] }, { sessionKey: key, sessionId, channel: "telegram", agentId: "main" });
      const text = [{ type: "text", text: assistant }];
      const results = api.emitRaw("before_message_write", { message: { role: "assistant", content: text }, sessionKey: key }, { agentId: "main", sessionKey: key });
      assert.deepEqual(results, [undefined]);
      await whenIdle(api);
      return sessionOf(built);
    }

    it("mirrors the user and assistant turns into one session and skips slash commands", async () => {
      const api = open(TOKEN_A!);
      const key = `agent:main:telegram:direct:u${unique()}`;
      const conversation = key.split(":").at(-1)!;
      await api.emit("message_received", { from: conversation, content: "/new" }, { channelId: "telegram", conversationId: conversation });
      const memoryId = await exchange(api, key, randomUUID(), "My favourite tea is genmaicha", "Genmaicha, noted.");
      const session = await rest("GET", `/memory/session/${encodeURIComponent(memoryId)}`, TOKEN_A!);
      assert.equal(session.status, 200, JSON.stringify(session.body));
      const turns = session.body.turns.map((turn: any) => [turn.role, turn.content]);
      assert.deepEqual(turns, [
        ["user", "My favourite tea is genmaicha"],
        ["assistant", "Genmaicha, noted."],
      ]);
      assert.match(session.body.turns[0].turn_id, /^oc:m-/);
      assert.deepEqual(api.warnings(), []);
    });

    it("/reset through command, before_reset and session_end: one consolidate, then a new session", async () => {
      const api = open(TOKEN_A!);
      const key = `agent:main:telegram:direct:u${unique()}`;
      const oldSession = randomUUID();
      const oldId = await exchange(api, key, oldSession, "I deploy with blue-green releases", "Understood.");
      const spy = countConsolidations();
      try {
        await api.command("reset", key);
        await api.emit("before_reset", { reason: "reset", messages: [] }, { sessionKey: key, sessionId: oldSession, agentId: "main" });
        await api.emit("session_end", { sessionId: oldSession, sessionKey: key, messageCount: 2, reason: "reset" }, { sessionKey: key });
        await whenIdle(api);
        assert.equal(spy.count(), 1);
      } finally {
        spy.restore();
      }
      const job = await rest("GET", `/pipeline/last-consolidation?session_id=${encodeURIComponent(oldId)}`, TOKEN_A!);
      assert.equal(job.status, 200);
      assert.notEqual(job.body.status, "none", JSON.stringify(job.body));
      const newSession = randomUUID();
      await api.emit("session_start", { sessionId: newSession, sessionKey: key }, { sessionKey: key, sessionId: newSession });
      const built = await api.emit("before_prompt_build", { prompt: "hello again" }, { sessionKey: key, sessionId: newSession });
      const newId = sessionOf(built);
      assert.notEqual(newId, oldId);
      assert.ok((built as { prependSystemContext: string }).prependSystemContext.includes(RESET_NOTE));
      assert.deepEqual(api.warnings(), []);
    });

    it("/stop consolidates and keeps the session id", async () => {
      const api = open(TOKEN_A!);
      const key = `agent:main:telegram:direct:u${unique()}`;
      const sessionId = randomUUID();
      const memoryId = await exchange(api, key, sessionId, "Our staging database is called orchid", "Got it.");
      const spy = countConsolidations();
      try {
        await api.command("stop", key);
        await whenIdle(api);
        assert.equal(spy.count(), 1);
      } finally {
        spy.restore();
      }
      const job = await rest("GET", `/pipeline/last-consolidation?session_id=${encodeURIComponent(memoryId)}`, TOKEN_A!);
      assert.notEqual(job.body.status, "none", JSON.stringify(job.body));
      const again = await exchange(api, key, sessionId, "And production is called lotus", "Noted too.");
      assert.equal(again, memoryId);
      const session = await rest("GET", `/memory/session/${encodeURIComponent(memoryId)}`, TOKEN_A!);
      assert.equal(session.body.turn_count, 4);
    });

    it("tools return content and details; smart_search takes the shown session id", async () => {
      const api = open(TOKEN_A!);
      const key = `agent:main:webchat:direct:u${unique()}`;
      const memoryId = await exchange(api, key, randomUUID(), "My cat is named Miso", "A fine name.");
      const consolidated = await api.call("lychee_memory_consolidate", { background: false });
      assert.equal((consolidated.details as any).status, "done", JSON.stringify(consolidated.details));
      const search = await api.call("lychee_memory_smart_search", { query: "What is my cat called?", session_id: memoryId });
      const details = search.details as Record<string, any>;
      assert.equal(details.mode, "compact");
      assert.match(details.background_context, /Miso/);
      // compact mode: the model reads the fused background text, the structure stays in details
      assert.deepEqual(search.content, [{ type: "text", text: details.background_context.trim() }]);
      assert.ok(Array.isArray(details.provenance));
      const full = await api.call("lychee_memory_smart_search", { query: "What is my cat called?", session_id: memoryId, mode: "full" });
      assert.equal(JSON.parse(textOf(full)).mode, "full");
      const raw = await api.call("lychee_memory_search", { query: "cat name Miso", top_k: 3 });
      assert.equal(typeof (raw.details as any).novelty_retrieved_context, "string");
      const fused = await api.call("lychee_memory_synthesize", { user_query: "cat?", semantic_results: (raw.details as any).semantic_results });
      assert.equal(typeof (fused.details as any).kept_count, "number");
      const appended = await api.call("lychee_memory_append_turn", { role: "user", content: "Miso is three years old" });
      assert.equal((appended.details as any).status, "appended");
      assert.equal((appended.details as any).session_id, memoryId);
      await assert.rejects(api.call("lychee_memory_smart_search", { query: "x", top_k: 0 }), { name: "ToolCallError", message: /top_k/ });
      await assert.rejects(api.call("lychee_memory_consolidate", { session_id: `missing-${unique()}` }), { name: "ToolCallError", message: /not found/ });
    });

    it("tokens A and B see only their own memories", async () => {
      const a = open(TOKEN_A!);
      const b = open(TOKEN_B!);
      const word = `zephyr${unique()}`;
      const memoryId = await exchange(a, `agent:main:webchat:direct:u${unique()}`, randomUUID(), `My secret project codename is ${word}`, "I will remember it.");
      const done = await a.call("lychee_memory_consolidate", { session_id: memoryId, background: false });
      assert.equal((done.details as any)?.status, "done", textOf(done));
      const found = await a.call("lychee_memory_smart_search", { query: `project codename ${word}`, mode: "full" });
      assert.match(recalled(found.details), new RegExp(word));
      const hidden = await b.call("lychee_memory_smart_search", { query: `project codename ${word}`, mode: "full" });
      assert.doesNotMatch(recalled(hidden.details), new RegExp(word));
      assert.equal((await rest("GET", `/memory/session/${encodeURIComponent(memoryId)}`, TOKEN_B!)).status, 404);
      await assert.rejects(b.call("lychee_memory_consolidate", { session_id: memoryId }), { name: "ToolCallError", message: /not found/ });
    });

    it("with the server gone, hooks resolve and warn and tools throw", async () => {
      const api = createFakeApi({ baseUrl: await closedPortUrl(), apiToken: TOKEN_A, transport, timeout: 5 });
      plugin.register(api);
      const key = `agent:main:telegram:direct:u${unique()}`;
      await exchange(api, key, randomUUID(), "Is anyone there?", "Apparently not.");
      await api.command("new", key);
      await whenIdle(api);
      assert.ok(api.warnings().some((line) => /unreachable/.test(line)), api.warnings().join("\n"));
      await assert.rejects(api.call("lychee_memory_smart_search", { query: "anything" }), { name: "ToolCallError", message: /unreachable/ });
    });

    it("an invalid token is reported as rejected", async () => {
      const api = open("not-a-valid-token");
      await assert.rejects(api.call("lychee_memory_search", { query: "x" }), { name: "ToolCallError", message: "LycheeMem rejected the API token" });
    });
  });
}
