/**
 * The subset of the OpenClaw plugin API this plugin uses, typed structurally so the plugin has
 * no dependency on the host package. Hosts pass more fields than listed; every field that older
 * hosts may omit is optional.
 */

export interface PluginLogger {
  debug?: (message: string) => void;
  info: (message: string) => void;
  warn: (message: string) => void;
  error: (message: string) => void;
}

export interface ToolTextContent {
  type: "text";
  text: string;
}

/** What a tool's `execute` resolves to. */
export interface ToolResult {
  content: ToolTextContent[];
  details?: unknown;
  isError?: boolean;
}

export interface ToolDefinition {
  name: string;
  label: string;
  description: string;
  parameters: Record<string, unknown>;
  execute: (toolCallId: string, params: unknown, signal?: AbortSignal) => Promise<ToolResult>;
}

/** Context of agent hooks (`before_prompt_build`, `before_reset`, `before_message_write`). */
export interface AgentContext {
  agentId?: string;
  sessionKey?: string;
  sessionId?: string;
  channelId?: string;
  messageProvider?: string;
  conversationId?: string;
  chatId?: string;
}

/** Context of message hooks (`message_received`). */
export interface MessageContext {
  channelId?: string;
  accountId?: string;
  conversationId?: string;
  sessionKey?: string;
}

export interface MessageReceivedEvent {
  from?: string;
  content?: unknown;
  timestamp?: number;
  messageId?: string;
  sessionKey?: string;
  senderName?: string;
}

export interface BeforePromptBuildEvent {
  prompt?: string;
  messages?: unknown[];
}

export interface BeforePromptBuildResult {
  prependSystemContext?: string;
  prependContext?: string;
}

export interface BeforeMessageWriteEvent {
  message?: { role?: string; content?: unknown; timestamp?: number; id?: string };
  sessionKey?: string;
  agentId?: string;
}

export interface AfterToolCallEvent {
  toolName?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: string;
}

export interface SessionEvent {
  sessionId?: string;
  sessionKey?: string;
  reason?: string;
}

/** Events of `registerHook` (internal hooks such as `command:new`). */
export interface CommandEvent {
  type?: string;
  action?: string;
  sessionKey?: string;
  context?: Record<string, unknown>;
}

export type HookHandler = (event: any, ctx: any) => unknown;

export interface OpenClawPluginApi {
  id?: string;
  pluginConfig?: Record<string, unknown>;
  config?: { plugins?: { entries?: Record<string, { config?: Record<string, unknown> }> } };
  logger: PluginLogger;
  registerTool: (tool: ToolDefinition) => void;
  on: (hookName: string, handler: HookHandler) => void;
  registerHook: (
    events: string | string[],
    handler: (event: CommandEvent) => unknown,
    opts?: { name?: string; description?: string },
  ) => void;
}
