/**
 * The part of the OpenClaw plugin API this plugin uses, derived from the real SDK types of the
 * pinned `openclaw` dev dependency (`openclaw/plugin-sdk/plugin-entry`), so `npm run typecheck`
 * fails when the host's contract and the plugin drift apart. Type-only: nothing here exists at
 * run time, and the built plugin has no dependency on the host package.
 */

import type { AnyAgentTool, OpenClawPluginApi } from "openclaw/plugin-sdk/plugin-entry";

/** What `register` touches on the host API (tests pass a recorder with just these members). */
export type PluginApi = Pick<OpenClawPluginApi, "id" | "config" | "pluginConfig" | "logger" | "registerTool" | "on" | "registerHook">;

export type PluginLogger = OpenClawPluginApi["logger"];

/** A tool as the host runs it: `execute` resolves with `{content, details}` or throws. */
export type ToolDefinition = AnyAgentTool;

/** What a tool's `execute` resolves to (`details` is required by the host). */
export type ToolResult = Awaited<ReturnType<AnyAgentTool["execute"]>>;

/** The typed hooks this plugin registers through `api.on`. */
export type HookName =
  | "session_start"
  | "before_prompt_build"
  | "message_received"
  | "before_message_write"
  | "after_tool_call"
  | "before_reset"
  | "session_end";

// `api.on` is generic over the hook name; an instantiation expression on a declared (never
// emitted) value recovers the exact handler type of each hook from the SDK.
declare const sdkApi: OpenClawPluginApi;
type HandlerOf<K extends HookName> = Parameters<typeof sdkApi.on<K>>[1];

export type HookEvent<K extends HookName> = Parameters<HandlerOf<K>>[0];
export type HookContext<K extends HookName> = Parameters<HandlerOf<K>>[1];
export type HookResult<K extends HookName> = ReturnType<HandlerOf<K>>;
export type HookHandler<K extends HookName> = (event: HookEvent<K>, ctx: HookContext<K>) => HookResult<K>;

export type BeforePromptBuildEvent = HookEvent<"before_prompt_build">;
export type BeforePromptBuildResult = Exclude<Awaited<HookResult<"before_prompt_build">>, void>;
export type AgentContext = HookContext<"before_prompt_build">;
export type MessageReceivedEvent = HookEvent<"message_received">;
export type MessageContext = HookContext<"message_received">;
export type BeforeMessageWriteEvent = HookEvent<"before_message_write">;
export type BeforeMessageWriteContext = HookContext<"before_message_write">;
export type AfterToolCallEvent = HookEvent<"after_tool_call">;
export type ToolContext = HookContext<"after_tool_call">;
export type BeforeResetEvent = HookEvent<"before_reset">;
export type SessionStartEvent = HookEvent<"session_start">;
export type SessionEndEvent = HookEvent<"session_end">;
export type SessionContext = HookContext<"session_start">;

/** The handler of `registerHook` (internal hooks such as `command:new`) and its event. */
export type InternalHookHandler = Parameters<OpenClawPluginApi["registerHook"]>[1];
export type CommandEvent = Parameters<InternalHookHandler>[0];
