/** Per-registration plugin state (one per `api` object; see `index.ts`). */

import type { PluginConfig } from "./config.ts";
import type { PluginLogger } from "./host.ts";
import { Lifecycle } from "./lifecycle.ts";
import { SessionRegistry } from "./sessions.ts";
import { createTransport, type MemoryTransport } from "./transport.ts";

export interface CurrentRun {
  sessionKey: string;
  memoryId: string;
}

export interface PluginState {
  config: PluginConfig;
  logger: PluginLogger;
  transport: MemoryTransport;
  /** Transport with the short auto-recall timeout (≤ 5 s). */
  recallTransport: MemoryTransport;
  registry: SessionRegistry;
  lifecycle: Lifecycle;
  /** The run bound by the latest `before_prompt_build` that has not ended. */
  current: CurrentRun | undefined;
  /** Session keys whose user turn `message_received` stored since their last prompt build. */
  userTurnSeen: Set<string>;
  /** Per session key: the user text the last prompt build stored (a later `message_received` skips it). */
  promptTurns: Map<string, string>;
  /** Per session key: the request the last prompt build stored (rebuilds are not stored again). */
  promptIdentities: Map<string, string>;
}

export interface StateOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  transport?: MemoryTransport;
}

export function createState(config: PluginConfig, logger: PluginLogger, options: StateOptions = {}): PluginState {
  const transport = options.transport ?? createTransport(config);
  const recallTransport =
    options.transport ?? createTransport(config, Math.min(config.timeout, 5) * 1000);
  return {
    config,
    logger,
    transport,
    recallTransport,
    registry: new SessionRegistry(config.sessionPrefix, options.now),
    lifecycle: new Lifecycle({
      transport,
      logger,
      boundaryConsolidation: config.enableBoundaryConsolidation,
      proactiveCooldownMs: config.proactiveConsolidationCooldownSeconds * 1000,
      now: options.now,
      sleep: options.sleep,
    }),
    current: undefined,
    userTurnSeen: new Set(),
    promptTurns: new Map(),
    promptIdentities: new Map(),
  };
}
