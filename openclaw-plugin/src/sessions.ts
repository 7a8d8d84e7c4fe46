/**
 * Session mapping (INTEGRATIONS.md §4.5): one memory session per OpenClaw session, shared by the
 * user turns (known by channel and conversation) and the assistant turns (known by session key).
 */

import { createHash } from "node:crypto";

export const MAX_SESSION_ID = 128;
export const BUFFER_MAX_TURNS = 20;
export const BUFFER_MAX_AGE_MS = 60_000;
/** A boundary this soon after a rotation still targets the session that was rotated away. */
export const ROTATION_GRACE_MS = 5_000;

/** Replace every character outside `[A-Za-z0-9._:@-]` with `_`. */
export function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9._:@-]/g, "_");
}

/** `id` if it fits in 128 characters, else its head plus a hash of the whole id. */
export function shorten(id: string): string {
  if (id.length <= MAX_SESSION_ID) return id;
  const digest = createHash("sha256").update(id).digest("hex").slice(0, 16);
  return `${id.slice(0, MAX_SESSION_ID - digest.length - 1)}-${digest}`;
}

/**
 * The memory session id: `<prefix>:<sanitised sessionKey>:<first 12 chars of sessionId>`, or
 * `…:g<generation>` when no `sessionId` is known. Always a valid LycheeMem `session_id`.
 */
export function memorySessionId(
  prefix: string,
  sessionKey: string,
  sessionId: string | undefined,
  generation: number,
): string {
  const suffix = sessionId ? sanitize(sessionId.slice(0, 12)) : `g${generation}`;
  return shorten(`${sanitize(prefix)}:${sanitize(sessionKey)}:${suffix}`);
}

/** A user turn waiting for its session to be bound. */
export interface PendingTurn {
  content: string;
  turnId?: string;
  createdAt?: string;
  /** Arrival time (ms, registry clock). */
  receivedAt: number;
  /** The turn carries a long-term signal (proactive consolidation). */
  signal?: boolean;
}

interface SessionState {
  sessionId: string | undefined;
  generation: number;
  /** True once the memory session is known (a bound prompt or a known sessionId). */
  bound: boolean;
  rotatedAt?: number;
  previousMemoryId?: string;
  resetNotePending: boolean;
}

export interface ConversationRef {
  channel: string;
  conversation: string;
}

export function conversationKey(ref: ConversationRef): string {
  return `${ref.channel}:${ref.conversation}`;
}

export class SessionRegistry {
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #sessions = new Map<string, SessionState>();
  /** `<channel>:<conversation>` → sessionKey. */
  readonly #conversations = new Map<string, string>();
  /** Buffer key (`<channel>:<conversation>` or `session:<key>`) → turns in arrival order. */
  readonly #buffers = new Map<string, PendingTurn[]>();

  constructor(prefix: string, now: () => number = Date.now) {
    this.#prefix = prefix;
    this.#now = now;
  }

  /** The registry's clock (ms). */
  now(): number {
    return this.#now();
  }

  #state(sessionKey: string): SessionState {
    let state = this.#sessions.get(sessionKey);
    if (!state) {
      state = { sessionId: undefined, generation: 0, bound: false, resetNotePending: false };
      this.#sessions.set(sessionKey, state);
    }
    return state;
  }

  #idOf(sessionKey: string, state: SessionState, sessionId = state.sessionId): string {
    return memorySessionId(this.#prefix, sessionKey, sessionId, state.generation);
  }

  /** `session_start`: remember the host's `sessionId` for `sessionKey`. */
  noteSession(sessionKey: string, sessionId: string): string {
    const state = this.#state(sessionKey);
    state.sessionId = sessionId;
    state.bound = true;
    return this.#idOf(sessionKey, state);
  }

  /** `before_prompt_build`: bind `sessionKey` (and its `sessionId`, when known); the memory id. */
  bind(sessionKey: string, sessionId?: string): string {
    const state = this.#state(sessionKey);
    if (sessionId) state.sessionId = sessionId;
    state.bound = true;
    return this.#idOf(sessionKey, state);
  }

  /** The memory session of `sessionKey`, or `undefined` while it is not bound. */
  boundId(sessionKey: string): string | undefined {
    const state = this.#sessions.get(sessionKey);
    return state?.bound ? this.#idOf(sessionKey, state) : undefined;
  }

  /**
   * The memory session a boundary of `sessionKey` applies to: the one named by `sessionId` when
   * the event carries it, the one just rotated away within the grace period, else the current one.
   */
  boundaryTarget(sessionKey: string, sessionId?: string): string {
    const state = this.#state(sessionKey);
    if (sessionId) return this.#idOf(sessionKey, state, sessionId);
    const recent = state.rotatedAt !== undefined && this.#now() - state.rotatedAt <= ROTATION_GRACE_MS;
    if (recent && state.previousMemoryId) return state.previousMemoryId;
    return this.#idOf(sessionKey, state);
  }

  /** `/new`, `/reset`: forget the bound session; the next prompt binds a new one. */
  rotate(sessionKey: string, previousMemoryId: string): void {
    const state = this.#state(sessionKey);
    state.previousMemoryId = previousMemoryId;
    state.rotatedAt = this.#now();
    state.sessionId = undefined;
    state.generation += 1;
    state.bound = false;
    state.resetNotePending = true;
    this.#buffers.delete(`session:${sessionKey}`);
  }

  /** True once after a rotation of `sessionKey` (for the one-time note in the prompt). */
  takeResetNote(sessionKey: string): boolean {
    const state = this.#sessions.get(sessionKey);
    if (!state?.resetNotePending) return false;
    state.resetNotePending = false;
    return true;
  }

  /**
   * True while `sessionKey` is bound to the host session `sessionId` (or to any session when
   * either side does not know its id): events about older sessions must not unbind newer ones.
   */
  holds(sessionKey: string, sessionId?: string): boolean {
    const state = this.#sessions.get(sessionKey);
    if (!state?.bound) return false;
    return !sessionId || !state.sessionId || state.sessionId === sessionId;
  }

  /**
   * `session_end`: forget the binding, buffers and conversations of `sessionKey`. The generation
   * counter survives, so a later session without a `sessionId` never reuses an old id.
   */
  drop(sessionKey: string): void {
    const state = this.#sessions.get(sessionKey);
    if (state) {
      if (state.bound && !state.sessionId) state.generation += 1;
      state.bound = false;
      state.sessionId = undefined;
    }
    this.#buffers.delete(`session:${sessionKey}`);
    for (const [key, bound] of this.#conversations) {
      if (bound === sessionKey) this.#conversations.delete(key);
    }
  }

  /** Take only the turns buffered under `sessionKey` itself. */
  takeSessionBuffer(sessionKey: string): PendingTurn[] {
    const turns = this.#buffers.get(`session:${sessionKey}`) ?? [];
    this.#buffers.delete(`session:${sessionKey}`);
    return turns;
  }

  bindConversation(ref: ConversationRef, sessionKey: string): void {
    this.#conversations.set(conversationKey(ref), sessionKey);
  }

  sessionForConversation(ref: ConversationRef): string | undefined {
    return this.#conversations.get(conversationKey(ref));
  }

  /** Buffer a user turn under `bufferKey`; keeps the newest `BUFFER_MAX_TURNS`. */
  buffer(bufferKey: string, turn: PendingTurn): void {
    const turns = this.#buffers.get(bufferKey) ?? [];
    turns.push(turn);
    if (turns.length > BUFFER_MAX_TURNS) turns.splice(0, turns.length - BUFFER_MAX_TURNS);
    this.#buffers.set(bufferKey, turns);
  }

  get bufferedCount(): number {
    let count = 0;
    for (const turns of this.#buffers.values()) count += turns.length;
    return count;
  }

  /**
   * Take the turns buffered for the run of `sessionKey`: its own buffer, the buffer of `ref` when
   * the host names the conversation, else the channel's buffers whose conversation id appears in
   * the session key, else the channel's only buffer. Bound conversations are remembered.
   */
  takeBuffered(sessionKey: string, channel: string | undefined, ref?: ConversationRef): PendingTurn[] {
    const keys = [`session:${sessionKey}`];
    if (ref) keys.push(conversationKey(ref));
    else keys.push(...this.#guessConversations(sessionKey, channel));
    const turns: PendingTurn[] = [];
    for (const key of keys) {
      const found = this.#buffers.get(key);
      if (!found) continue;
      this.#buffers.delete(key);
      turns.push(...found);
      if (!key.startsWith("session:")) this.#conversations.set(key, sessionKey);
    }
    return turns.sort((a, b) => a.receivedAt - b.receivedAt);
  }

  #guessConversations(sessionKey: string, channel: string | undefined): string[] {
    const candidates = [...this.#buffers.keys()].filter(
      (key) => !key.startsWith("session:") && (!channel || key.startsWith(`${channel}:`)),
    );
    const lowered = sessionKey.toLowerCase();
    const named = candidates.filter((key) => {
      const conversation = key.slice(key.indexOf(":") + 1).toLowerCase();
      return conversation !== "" && lowered.includes(conversation);
    });
    if (named.length > 0) return named;
    return candidates.length === 1 ? candidates : [];
  }

  /** Remove and return conversation buffers whose oldest turn is older than `maxAgeMs`. */
  takeExpired(maxAgeMs = BUFFER_MAX_AGE_MS): [string, PendingTurn[]][] {
    const now = this.#now();
    const expired: [string, PendingTurn[]][] = [];
    for (const [key, turns] of this.#buffers) {
      if (turns.length > 0 && now - turns[0]!.receivedAt > maxAgeMs) expired.push([key, turns]);
    }
    for (const [key] of expired) this.#buffers.delete(key);
    return expired;
  }

  /** The memory session used for turns that were never bound to a host session. */
  fallbackId(bufferKey: string): string {
    const name = bufferKey.startsWith("session:")
      ? memorySessionId(this.#prefix, bufferKey.slice(8), undefined, 0)
      : shorten(`conversation:${sanitize(bufferKey)}`);
    return name;
  }
}
