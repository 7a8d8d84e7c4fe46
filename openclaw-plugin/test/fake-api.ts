/** A recorder standing in for the OpenClaw host API: it stores what the plugin registers. */

import type { CommandEvent, InternalHookHandler, PluginApi, ToolDefinition, ToolResult } from "../src/host.ts";

/** Hook handlers as the recorder stores them: events and contexts are whatever a test emits. */
type LooseHandler = (event: any, ctx: any) => unknown;

export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  message: string;
}

export interface RegisteredHook {
  events: string[];
  handler: InternalHookHandler;
  opts?: { name?: string; description?: string };
}

export interface FakeApi extends PluginApi {
  tools: ToolDefinition[];
  hooks: Map<string, LooseHandler[]>;
  internalHooks: RegisteredHook[];
  logs: LogLine[];
  tool(name: string): ToolDefinition;
  /** Run tool `name` like the host does; resolves with its result or rejects with its error. */
  call(name: string, params: unknown): Promise<ToolResult>;
  /** Call every handler of `hook` in order; resolves to the last defined result. */
  emit(hook: string, event: unknown, ctx?: unknown): Promise<unknown>;
  /** Call every handler of `hook` and return their raw (unawaited) results. */
  emitRaw(hook: string, event: unknown, ctx?: unknown): unknown[];
  /** Fire a `command:<action>` internal hook for `sessionKey`. */
  command(action: string, sessionKey: string): Promise<void>;
  warnings(): string[];
}

/** The host config of the documented install: the plugin may read the conversation. */
export const TRUSTED_HOST_CONFIG = { plugins: { entries: { "lycheemem-tools": { hooks: { allowConversationAccess: true } } } } };

export function createFakeApi(pluginConfig: Record<string, unknown> = {}, config: Record<string, unknown> = TRUSTED_HOST_CONFIG): FakeApi {
  const logs: LogLine[] = [];
  const log = (level: LogLine["level"]) => (message: string) => logs.push({ level, message });
  const api: FakeApi = {
    id: "lycheemem-tools",
    pluginConfig,
    config: config as PluginApi["config"],
    logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    tools: [],
    hooks: new Map(),
    internalHooks: [],
    logs,
    registerTool(tool) {
      if (!("execute" in tool)) throw new Error("the plugin registers tools, not tool factories");
      api.tools.push(tool);
    },
    on(hookName, handler) {
      const list = api.hooks.get(hookName) ?? [];
      list.push(handler as LooseHandler);
      api.hooks.set(hookName, list);
    },
    registerHook(events, handler, opts) {
      api.internalHooks.push({ events: Array.isArray(events) ? events : [events], handler, opts });
    },
    tool(name) {
      const found = api.tools.find((tool) => tool.name === name);
      if (!found) throw new Error(`tool ${name} not registered`);
      return found;
    },
    call(name, params) {
      return api.tool(name).execute(`call-${name}`, params);
    },
    emitRaw(hook, event, ctx) {
      return (api.hooks.get(hook) ?? []).map((handler) => handler(event, ctx));
    },
    async emit(hook, event, ctx) {
      let last: unknown;
      for (const handler of api.hooks.get(hook) ?? []) {
        const result = await handler(event, ctx);
        if (result !== undefined) last = result;
      }
      return last;
    },
    async command(action, sessionKey) {
      const key = `command:${action}`;
      const event = {
        type: "command",
        action,
        sessionKey,
        context: {},
        timestamp: new Date(),
        messages: [],
      } as CommandEvent;
      for (const hook of api.internalHooks) {
        if (hook.events.includes(key)) await hook.handler(event);
      }
    },
    warnings() {
      return logs.filter((line) => line.level === "warn").map((line) => line.message);
    },
  };
  // no-op registrars some hosts call; the plugin does not use them
  Object.assign(api, { registerService() {}, registerCli() {}, registerCommand() {} });
  return api;
}
