/**
 * LycheeMem for OpenClaw: five memory tools, turn mirroring into one memory session per
 * conversation, and consolidation at conversation boundaries. See INSTALL_OPENCLAW.md.
 */

import { PLUGIN_ID, resolveConfig } from "./src/config.ts";
import type { OpenClawPluginDefinition } from "openclaw/plugin-sdk/plugin-entry";

import type { PluginApi } from "./src/host.ts";
import { registerHooks } from "./src/hooks.ts";
import { createState, type PluginState, type StateOptions } from "./src/state.ts";
import { buildTools } from "./src/tools.ts";

const states = new WeakMap<PluginApi, PluginState>();

/** Register tools and hooks on `api` (synchronous; state is kept per `api`). */
export function registerPlugin(api: PluginApi, options: StateOptions = {}): void {
  const { config, warnings } = resolveConfig(api);
  for (const warning of warnings) api.logger.warn(`lycheemem: ${warning}`);
  const state = createState(config, api.logger, options);
  states.set(api, state);
  for (const tool of buildTools(state)) api.registerTool(tool);
  registerHooks(api, state);
}

/** The state of a registration (tests and diagnostics). */
export function pluginState(api: PluginApi): PluginState | undefined {
  return states.get(api);
}

/** Resolve once every append and consolidation started through `api` has settled. */
export async function whenIdle(api: PluginApi): Promise<void> {
  await states.get(api)?.lifecycle.idle();
}

/** End the transport session of a registration (the MCP session); never rejects. */
export async function shutdown(api: PluginApi): Promise<void> {
  const state = states.get(api);
  if (!state) return;
  await state.lifecycle.idle();
  await Promise.all([state.transport.close(), state.recallTransport.close()]);
}

// A plain object checked against the SDK type: `definePluginEntry` would make the host package a
// run-time dependency of the built plugin.
export default {
  id: PLUGIN_ID,
  name: "LycheeMem",
  description:
    "Long-term memory from a self-hosted LycheeMem server: recall tools, turn mirroring and consolidation at conversation boundaries.",
  kind: "memory",
  register(api: PluginApi): void {
    registerPlugin(api);
  },
} satisfies OpenClawPluginDefinition;
