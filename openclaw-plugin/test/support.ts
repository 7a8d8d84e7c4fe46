/** Test helpers shared by the suites that run without a server. */

import type { ToolResult } from "../src/host.ts";
import type { CallOutcome, MemoryTransport, ToolName } from "../src/transport.ts";
import { TransportError } from "../src/transport.ts";

export interface RecordedCall {
  name: ToolName;
  args: Record<string, unknown>;
}

/**
 * An in-memory stand-in for the transport in suites that run without a server: records calls
 * and answers from `reply` (default: an empty object). The live suite uses the real transports.
 */
export class RecordingTransport implements MemoryTransport {
  readonly calls: RecordedCall[] = [];
  reply: (name: ToolName, args: Record<string, unknown>) => Record<string, unknown> = () => ({});

  async call(name: ToolName, args: Record<string, unknown>): Promise<CallOutcome> {
    this.calls.push({ name, args: structuredClone(args) });
    const body = this.reply(name, args);
    return { structuredContent: body, text: JSON.stringify(body) };
  }

  async close(): Promise<void> {}

  named(name: ToolName): RecordedCall[] {
    return this.calls.filter((call) => call.name === name);
  }
}

/** A transport whose every call fails like an unreachable server. */
export class UnreachableTransport implements MemoryTransport {
  async call(): Promise<CallOutcome> {
    throw new TransportError("LycheeMem unreachable at http://127.0.0.1:1: connect ECONNREFUSED", { retryable: true });
  }
  async close(): Promise<void> {}
}

/** A manual clock: `now()` returns the current value, `advance(ms)` moves it forward. */
export class FakeClock {
  value = 1_700_000_000_000;
  readonly now = () => this.value;
  advance(ms: number): void {
    this.value += ms;
  }
}

export const noSleep = async (_ms: number) => {};

/** The text of a tool result's single text block (fails the test on anything else). */
export function textOf(result: ToolResult): string {
  const [block] = result.content;
  if (result.content.length !== 1 || block?.type !== "text") throw new Error(`expected one text block: ${JSON.stringify(result.content)}`);
  return block.text;
}
