/**
 * Writes to memory and their timing (INTEGRATIONS.md §4.5–4.6): ordered, idempotent appends per
 * memory session; boundary consolidation with coalescing and dedupe; proactive consolidation.
 * Nothing here throws: failures are logged with `logger.warn` (the plugin fails open).
 */

import type { PluginLogger } from "./host.ts";
import type { MemoryTransport } from "./transport.ts";
import { TransportError } from "./transport.ts";

export const BOUNDARY_COALESCE_MS = 5_000;
export const CONSOLIDATE_DEDUPE_MS = 15_000;
export const DRAIN_BEFORE_CONSOLIDATE_MS = 2_000;
export const APPEND_RETRY_DELAY_MS = 1_000;

export interface TurnInput {
  role: "user" | "assistant";
  content: string;
  turnId?: string;
  createdAt?: string;
}

export interface LifecycleOptions {
  transport: MemoryTransport;
  logger: PluginLogger;
  boundaryConsolidation: boolean;
  proactiveCooldownMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

interface SessionMarks {
  lastBoundaryAt?: number;
  lastConsolidateAt?: number;
  /** A turn was appended since the last consolidate was sent. */
  appendedSinceConsolidate: boolean;
  lastProactiveAt?: number;
  proactiveArmed: boolean;
  noveltyContext: string;
}

export type ConsolidateOutcome = "sent" | "skipped" | "failed";

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Lifecycle {
  readonly #options: LifecycleOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #marks = new Map<string, SessionMarks>();
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(options: LifecycleOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  #mark(memoryId: string): SessionMarks {
    let marks = this.#marks.get(memoryId);
    if (!marks) {
      marks = { proactiveArmed: false, noveltyContext: "", appendedSinceConsolidate: false };
      this.#marks.set(memoryId, marks);
    }
    return marks;
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inflight.add(promise);
    void promise.finally(() => this.#inflight.delete(promise));
    return promise;
  }

  /** Queue one turn for `memoryId`; turns of one session are sent in call order. Never rejects. */
  append(memoryId: string, turn: TurnInput): Promise<void> {
    const previous = this.#chains.get(memoryId) ?? Promise.resolve();
    const next = previous.then(() => this.#send(memoryId, turn));
    this.#chains.set(memoryId, next);
    void next.finally(() => {
      if (this.#chains.get(memoryId) === next) this.#chains.delete(memoryId);
    });
    return this.#track(next);
  }

  async #send(memoryId: string, turn: TurnInput): Promise<void> {
    const args: Record<string, unknown> = { session_id: memoryId, role: turn.role, content: turn.content };
    if (turn.turnId) args.turn_id = turn.turnId;
    if (turn.createdAt) args.created_at = turn.createdAt;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#options.transport.call("lychee_memory_append_turn", args);
        this.#mark(memoryId).appendedSinceConsolidate = true;
        return;
      } catch (error) {
        const retry = attempt === 1 && error instanceof TransportError && error.retryable;
        if (!retry) {
          this.#options.logger.warn(`lycheemem: append to ${memoryId} failed: ${message(error)}`);
          return;
        }
        await this.#sleep(APPEND_RETRY_DELAY_MS);
      }
    }
  }

  /** Wait until the queued appends of `memoryId` are sent, at most `timeoutMs`. */
  async drain(memoryId: string, timeoutMs = DRAIN_BEFORE_CONSOLIDATE_MS): Promise<void> {
    const chain = this.#chains.get(memoryId);
    if (!chain) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([chain, timeout]);
    clearTimeout(timer);
  }

  /** Resolve once every append and consolidation started so far has settled. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Remember the `novelty_retrieved_context` of the latest search in `memoryId`. */
  noteNovelty(memoryId: string, context: string): void {
    if (context) this.#mark(memoryId).noveltyContext = context;
  }

  noveltyContext(memoryId: string): string {
    return this.#marks.get(memoryId)?.noveltyContext ?? "";
  }

  /**
   * A conversation boundary (`/new`, `/reset`, `/stop`, session end) for `memoryId`. Boundaries
   * within 5 s of the previous one are coalesced; see `consolidate` for the remaining rules.
   */
  boundary(memoryId: string, reason: string): Promise<ConsolidateOutcome> {
    const marks = this.#mark(memoryId);
    const now = this.#now();
    if (marks.lastBoundaryAt !== undefined && now - marks.lastBoundaryAt < BOUNDARY_COALESCE_MS) {
      return Promise.resolve("skipped");
    }
    marks.lastBoundaryAt = now;
    if (!this.#options.boundaryConsolidation) return Promise.resolve("skipped");
    return this.consolidate(memoryId, `boundary:${reason}`);
  }

  /**
   * Consolidate `memoryId` in the background with its cached novelty context, after its pending
   * appends (≤ 2 s). Skipped when one was sent within 15 s and no turn was appended since.
   */
  consolidate(memoryId: string, reason: string): Promise<ConsolidateOutcome> {
    return this.#track(this.#consolidate(memoryId, reason));
  }

  async #consolidate(memoryId: string, reason: string): Promise<ConsolidateOutcome> {
    await this.drain(memoryId);
    const marks = this.#mark(memoryId);
    const now = this.#now();
    const recent = marks.lastConsolidateAt !== undefined && now - marks.lastConsolidateAt < CONSOLIDATE_DEDUPE_MS;
    if (recent && !marks.appendedSinceConsolidate) return "skipped";
    marks.lastConsolidateAt = now;
    marks.appendedSinceConsolidate = false;
    try {
      await this.#options.transport.call("lychee_memory_consolidate", {
        session_id: memoryId,
        retrieved_context: marks.noveltyContext,
        background: true,
      });
      return "sent";
    } catch (error) {
      if (error instanceof TransportError && /not found/i.test(error.message)) {
        this.#options.logger.debug?.(`lycheemem: nothing to consolidate in ${memoryId} (${reason})`);
        return "skipped";
      }
      this.#options.logger.warn(`lycheemem: consolidate ${memoryId} (${reason}) failed: ${message(error)}`);
      return "failed";
    }
  }

  /** A user turn carried a long-term signal: consolidate after the next assistant turn. */
  armProactive(memoryId: string): void {
    this.#mark(memoryId).proactiveArmed = true;
  }

  /** An assistant turn of `memoryId` was queued: run an armed proactive consolidation. */
  afterAssistantTurn(memoryId: string): Promise<ConsolidateOutcome> | undefined {
    const marks = this.#marks.get(memoryId);
    if (!marks?.proactiveArmed) return undefined;
    const now = this.#now();
    if (marks.lastProactiveAt !== undefined && now - marks.lastProactiveAt < this.#options.proactiveCooldownMs) {
      return undefined;
    }
    marks.proactiveArmed = false;
    marks.lastProactiveAt = now;
    return this.consolidate(memoryId, "proactive");
  }
}
