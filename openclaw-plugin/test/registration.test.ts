import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { Ajv } from "ajv";

import plugin, { registerPlugin, whenIdle } from "../index.ts";
import { DEFAULT_CONFIG, resolveConfig } from "../src/config.ts";
import {
  BLOCKED_PROMPT_HOOK_WARNING,
  COMMAND_EVENTS,
  HOOK_NAMES,
  LIFECYCLE_HOOK_NAME,
  PROMPT_INJECTION_WARNING,
} from "../src/hooks.ts";
import { NOTHING_RECALLED } from "../src/tools.ts";
import { TOOL_NAMES } from "../src/transport.ts";
import { createFakeApi } from "./fake-api.ts";
import { RecordingTransport, textOf } from "./support.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "openclaw.plugin.json"), "utf8"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

describe("registration", () => {
  it("register() is synchronous and registers the manifest's tools", () => {
    const api = createFakeApi({ baseUrl: "http://127.0.0.1:1" });
    const returned: unknown = plugin.register(api);
    assert.equal(returned, undefined);
    assert.ok(!((returned as unknown) instanceof Promise));
    assert.deepEqual(api.tools.map((tool) => tool.name), manifest.contracts.tools);
    assert.deepEqual([...TOOL_NAMES], manifest.contracts.tools);
  });

  it("default export matches the manifest", () => {
    assert.equal(plugin.id, manifest.id);
    assert.equal(plugin.id, "lycheemem-tools");
    assert.equal(plugin.kind, "memory");
    assert.equal(manifest.kind, "memory");
    assert.equal(plugin.name, manifest.name);
  });

  it("tools carry closed JSON-schema parameters and a label", () => {
    const api = createFakeApi();
    registerPlugin(api, { transport: new RecordingTransport() });
    for (const tool of api.tools) {
      const parameters = tool.parameters as Record<string, unknown>;
      assert.equal(parameters.type, "object");
      assert.equal(parameters.additionalProperties, false, tool.name);
      assert.ok(tool.label.length > 0 && tool.description.length > 20, tool.name);
      new Ajv({ strict: false }).compile(tool.parameters);
    }
    const smart = api.tool("lychee_memory_smart_search").parameters as { required: string[] };
    assert.deepEqual(smart.required, ["query"]);
    const append = api.tool("lychee_memory_append_turn");
    assert.match(append.description, /already mirror/);
  });

  it("registers every lifecycle hook and the command hook with a name", () => {
    const api = createFakeApi();
    registerPlugin(api, { transport: new RecordingTransport() });
    assert.deepEqual([...api.hooks.keys()].sort(), [...HOOK_NAMES].sort());
    for (const name of HOOK_NAMES) assert.equal(api.hooks.get(name)?.length, 1, name);
    assert.equal(api.internalHooks.length, 1);
    const [hook] = api.internalHooks;
    assert.deepEqual(hook!.events, ["command:new", "command:reset", "command:stop"]);
    assert.deepEqual(hook!.events, COMMAND_EVENTS);
    assert.equal(hook!.opts?.name, LIFECYCLE_HOOK_NAME);
    assert.ok((hook!.opts?.description ?? "").length > 0);
  });

  it("warns when the host will block before_prompt_build, and only then", () => {
    const blocked = createFakeApi({}, {});
    registerPlugin(blocked, { transport: new RecordingTransport() });
    assert.deepEqual(blocked.warnings(), [BLOCKED_PROMPT_HOOK_WARNING]);
    assert.match(BLOCKED_PROMPT_HOOK_WARNING, /plugins\.entries\.lycheemem-tools\.hooks\.allowConversationAccess=true/);
    const denied = createFakeApi({}, { plugins: { entries: { "lycheemem-tools": { hooks: { allowConversationAccess: true, allowPromptInjection: false } } } } });
    registerPlugin(denied, { transport: new RecordingTransport() });
    assert.deepEqual(denied.warnings(), [PROMPT_INJECTION_WARNING]);
    const trusted = createFakeApi();
    registerPlugin(trusted, { transport: new RecordingTransport() });
    assert.deepEqual(trusted.warnings(), []);
  });

  it("recall tools mark their results as network content; status tools do not", () => {
    const api = createFakeApi();
    registerPlugin(api, { transport: new RecordingTransport() });
    const sources = Object.fromEntries(api.tools.map((tool) => [tool.name, tool.resultContentSource]));
    assert.deepEqual(sources, {
      lychee_memory_smart_search: "network",
      lychee_memory_search: "network",
      lychee_memory_append_turn: undefined,
      lychee_memory_synthesize: "network",
      lychee_memory_consolidate: undefined,
    });
  });

  it("compact smart_search gives the model the background text and keeps the structure in details", async () => {
    const transport = new RecordingTransport();
    const body = { mode: "compact", background_context: " User drinks genmaicha. ", provenance: [{ score: 0.9 }] };
    transport.reply = () => body;
    const api = createFakeApi();
    registerPlugin(api, { transport });
    const compact = await api.call("lychee_memory_smart_search", { query: "tea", session_id: "s" });
    assert.deepEqual(compact.content, [{ type: "text", text: "User drinks genmaicha." }]);
    assert.deepEqual(compact.details, body);
    transport.reply = () => ({ ...body, background_context: "" });
    const empty = await api.call("lychee_memory_smart_search", { query: "tea", session_id: "s" });
    assert.equal(textOf(empty), NOTHING_RECALLED);
    transport.reply = () => body;
    const full = await api.call("lychee_memory_smart_search", { query: "tea", session_id: "s", mode: "full" });
    assert.deepEqual(JSON.parse(textOf(full)), body);
    const raw = await api.call("lychee_memory_search", { query: "tea", session_id: "s" });
    assert.deepEqual(JSON.parse(textOf(raw)), body);
  });

  it("before_message_write returns undefined synchronously", async () => {
    const transport = new RecordingTransport();
    const api = createFakeApi();
    registerPlugin(api, { transport });
    const event = { message: { role: "assistant", content: [{ type: "text", text: "Hello there" }] }, sessionKey: "k" };
    const results = api.emitRaw("before_message_write", event, { sessionKey: "k" });
    assert.deepEqual(results, [undefined]);
    await whenIdle(api);
    assert.equal(transport.named("lychee_memory_append_turn").length, 1);
  });
});

describe("manifest", () => {
  const validate = new Ajv({ strict: false, useDefaults: false }).compile(manifest.configSchema);

  it("configSchema accepts the defaults and an empty config", () => {
    assert.ok(validate({ ...DEFAULT_CONFIG }), JSON.stringify(validate.errors));
    assert.ok(validate({}), JSON.stringify(validate.errors));
  });

  it("configSchema rejects unknown keys and bad values", () => {
    assert.equal(validate({ baseUrl: "http://x", surprise: true }), false);
    assert.equal(validate({ transport: "grpc" }), false);
    assert.equal(validate({ timeout: 0 }), false);
    assert.equal(validate({ autoRecallTopK: 11 }), false);
    assert.equal(validate({ proactiveConsolidationCooldownSeconds: 5 }), false);
  });

  it("schema defaults equal the code defaults and every key has a UI hint", () => {
    const properties = manifest.configSchema.properties as Record<string, { default: unknown }>;
    assert.deepEqual(Object.keys(properties).sort(), Object.keys(DEFAULT_CONFIG).sort());
    for (const [key, value] of Object.entries(DEFAULT_CONFIG)) {
      assert.deepEqual(properties[key]!.default, value, key);
      assert.ok(manifest.uiHints[key]?.label, `uiHints.${key}.label`);
    }
    assert.equal(manifest.uiHints.apiToken.sensitive, true);
    assert.ok(manifest.uiHints.baseUrl.placeholder);
    assert.ok(manifest.uiHints.apiToken.placeholder);
    assert.equal(manifest.configSchema.additionalProperties, false);
  });

  it("declares startup activation, the skill and a matching version", () => {
    assert.equal(manifest.activation.onStartup, true);
    assert.deepEqual(manifest.skills, ["skills/lycheemem"]);
    assert.ok(existsSync(join(root, "skills/lycheemem/SKILL.md")));
    assert.equal(manifest.version, pkg.version);
  });

  it("package.json points OpenClaw at the source entry and its compiled build, with no runtime deps", () => {
    assert.equal(pkg.type, "module");
    assert.deepEqual(pkg.openclaw.extensions, ["./index.ts"]);
    for (const entry of pkg.openclaw.extensions) assert.ok(existsSync(join(root, entry)), entry);
    // installed packages load the JavaScript build; `npm pack` builds it (prepack)
    assert.deepEqual(pkg.openclaw.runtimeExtensions, ["./dist/index.js"]);
    assert.match(pkg.scripts.prepack, /npm run build/);
    assert.ok(pkg.files.includes("dist"));
    assert.equal(pkg.dependencies, undefined);
    assert.equal(pkg.peerDependencies, undefined);
  });

  it("the package name matches the manifest id (the host's config key)", () => {
    assert.equal(pkg.name.replace(/^@[^/]+\//, ""), manifest.id);
  });

  it("pins the OpenClaw host it is typechecked and tested against", () => {
    assert.match(pkg.devDependencies.openclaw, /^\d+\.\d+\.\d+$/);
  });
});

describe("config resolution", () => {
  it("prefers pluginConfig, then the entries config, then the environment", () => {
    const env = { LYCHEEMEM_BASE_URL: "http://env:1", LYCHEEMEM_API_TOKEN: "env-token", LYCHEEMEM_TIMEOUT: "7" };
    const fromPlugin = resolveConfig({ pluginConfig: { baseUrl: "http://plugin:1/" } }, env).config;
    assert.equal(fromPlugin.baseUrl, "http://plugin:1");
    assert.equal(fromPlugin.apiToken, "env-token");
    assert.equal(fromPlugin.timeout, 7);
    const entries = { plugins: { entries: { "lycheemem-tools": { config: { transport: "http" } } } } };
    const fromEntries = resolveConfig({ pluginConfig: {}, config: entries }, env).config;
    assert.equal(fromEntries.transport, "http");
    assert.equal(fromEntries.baseUrl, "http://env:1");
    const defaults = resolveConfig({}, {}).config;
    assert.deepEqual(defaults, { ...DEFAULT_CONFIG });
  });

  it("parses boolean words and falls back on invalid values with a warning", () => {
    const { config, warnings } = resolveConfig(
      {
        pluginConfig: {
          enableAutoRecall: "yes",
          enablePromptPresence: "off",
          enableHostLifecycle: "1",
          enableAutoAppendTurns: "maybe",
          autoRecallTopK: 40,
          transport: "grpc",
          extra: 1,
        },
      },
      {},
    );
    assert.equal(config.enableAutoRecall, true);
    assert.equal(config.enablePromptPresence, false);
    assert.equal(config.enableHostLifecycle, true);
    assert.equal(config.enableAutoAppendTurns, true);
    assert.equal(config.autoRecallTopK, 3);
    assert.equal(config.transport, "mcp");
    assert.equal(warnings.length, 4, warnings.join("; "));
  });
});
