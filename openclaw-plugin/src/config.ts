/**
 * Config resolution: `api.pluginConfig` → `plugins.entries["lycheemem-tools"].config` → the
 * `LYCHEEMEM_*` environment variables → defaults. Invalid values fall back to the default with a
 * warning instead of failing registration (the host already validated against the manifest).
 */

import type { PluginApi } from "./host.ts";

export const PLUGIN_ID = "lycheemem-tools";
export const PLUGIN_VERSION = "0.2.0";

export type Transport = "mcp" | "http";

export interface PluginConfig {
  baseUrl: string;
  transport: Transport;
  /** Per-request timeout in seconds (≥ 1). */
  timeout: number;
  apiToken: string;
  enableHostLifecycle: boolean;
  enablePromptPresence: boolean;
  enableAutoAppendTurns: boolean;
  enableBoundaryConsolidation: boolean;
  enableProactiveConsolidation: boolean;
  /** Seconds (≥ 15). */
  proactiveConsolidationCooldownSeconds: number;
  enableAutoRecall: boolean;
  /** Integer 1–10. */
  autoRecallTopK: number;
  sessionPrefix: string;
}

export const DEFAULT_CONFIG: Readonly<PluginConfig> = Object.freeze({
  baseUrl: "http://127.0.0.1:8000",
  transport: "mcp",
  timeout: 30,
  apiToken: "",
  enableHostLifecycle: true,
  enablePromptPresence: true,
  enableAutoAppendTurns: true,
  enableBoundaryConsolidation: true,
  enableProactiveConsolidation: false,
  proactiveConsolidationCooldownSeconds: 180,
  enableAutoRecall: false,
  autoRecallTopK: 3,
  sessionPrefix: "openclaw",
});

const ENV_KEYS: Partial<Record<keyof PluginConfig, string>> = {
  baseUrl: "LYCHEEMEM_BASE_URL",
  apiToken: "LYCHEEMEM_API_TOKEN",
  transport: "LYCHEEMEM_TRANSPORT",
  timeout: "LYCHEEMEM_TIMEOUT",
};

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

/** `true`/`false`, or `undefined` for anything that is not a recognised boolean. */
export function parseBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value === 1 ? true : value === 0 ? false : undefined;
  if (typeof value !== "string") return undefined;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

function parseNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "") {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The raw plugin config object the host handed over, or `{}`. */
export function rawPluginConfig(api: Partial<Pick<PluginApi, "pluginConfig" | "config">>) {
  if (isRecord(api.pluginConfig) && Object.keys(api.pluginConfig).length > 0) {
    return api.pluginConfig;
  }
  const entry = api.config?.plugins?.entries?.[PLUGIN_ID]?.config;
  return isRecord(entry) ? entry : {};
}

type Coercer = (value: unknown) => unknown;

const COERCERS: Record<keyof PluginConfig, Coercer> = {
  baseUrl: (v) => (typeof v === "string" && /^https?:\/\/\S+$/i.test(v.trim()) ? v.trim() : undefined),
  transport: (v) => {
    const word = typeof v === "string" ? v.trim().toLowerCase() : "";
    return word === "mcp" || word === "http" ? word : undefined;
  },
  timeout: (v) => {
    const n = parseNumber(v);
    return n !== undefined && n >= 1 ? n : undefined;
  },
  apiToken: (v) => (typeof v === "string" ? v.trim() : undefined),
  enableHostLifecycle: parseBoolean,
  enablePromptPresence: parseBoolean,
  enableAutoAppendTurns: parseBoolean,
  enableBoundaryConsolidation: parseBoolean,
  enableProactiveConsolidation: parseBoolean,
  proactiveConsolidationCooldownSeconds: (v) => {
    const n = parseNumber(v);
    return n !== undefined && n >= 15 ? n : undefined;
  },
  enableAutoRecall: parseBoolean,
  autoRecallTopK: (v) => {
    const n = parseNumber(v);
    return n !== undefined && Number.isInteger(n) && n >= 1 && n <= 10 ? n : undefined;
  },
  sessionPrefix: (v) => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined),
};

export interface ResolvedConfig {
  config: PluginConfig;
  /** One line per ignored key or invalid value. */
  warnings: string[];
}

/** Resolve the effective config from the host, the environment and the defaults. */
export function resolveConfig(
  api: Partial<Pick<PluginApi, "pluginConfig" | "config">>,
  env: Record<string, string | undefined> = process.env,
): ResolvedConfig {
  const raw = rawPluginConfig(api);
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!(key in COERCERS)) warnings.push(`unknown config key ${JSON.stringify(key)} ignored`);
  }
  const config: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(COERCERS) as (keyof PluginConfig)[]) {
    const envName = ENV_KEYS[key];
    const sources: [string, unknown][] = [[key, raw[key]]];
    if (envName) sources.push([envName, env[envName]]);
    for (const [label, value] of sources) {
      if (value === undefined || value === null || value === "") continue;
      const coerced = COERCERS[key](value);
      if (coerced === undefined) {
        warnings.push(`invalid value for ${label} ignored`);
        continue;
      }
      config[key] = coerced;
      break;
    }
  }
  config.baseUrl = String(config.baseUrl).replace(/\/+$/, "");
  return { config: config as unknown as PluginConfig, warnings };
}
