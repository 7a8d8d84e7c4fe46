// Server-sent events over fetch: the /chat stream is a sequence of `data: <json>` frames.
import type { ChatEvent, ChatRequest } from "./models";
import { authHeaders, failure } from "./client";

/**
 * Incremental SSE parser. Feed it decoded text in any chunking; it returns the complete events.
 * Only `data:` lines count: comments (`: keep-alive`), `event:`, `id:` and `retry:` are ignored.
 */
export class SseParser {
  private buffer = "";
  private data: string[] = [];

  feed(chunk: string): string[] {
    this.buffer += chunk;
    const events: string[] = [];
    let newline = this.buffer.search(/\r\n|\r|\n/);
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      this.line(line, events);
      newline = this.buffer.search(/\r\n|\r|\n/);
    }
    return events;
  }

  /** Dispatch what is left when the stream ends without a final blank line. */
  end(): string[] {
    const events: string[] = [];
    if (this.buffer) this.line(this.buffer, events);
    this.buffer = "";
    this.line("", events);
    return events;
  }

  private line(line: string, events: string[]): void {
    if (line === "") {
      if (this.data.length) events.push(this.data.join("\n"));
      this.data = [];
    } else if (line.startsWith("data:")) {
      this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  }
}

function parseEvent(data: string): ChatEvent | null {
  try {
    return JSON.parse(data) as ChatEvent;
  } catch {
    return null;
  }
}

/** POST /chat and hand every event to `onEvent` until the stream closes. */
export async function streamChat(
  body: ChatRequest,
  onEvent: (event: ChatEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch("/chat", {
    method: "POST",
    headers: { ...authHeaders(), "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok || !response.body) throw await failure(response, "/chat");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  const emit = (frames: string[]) => {
    for (const frame of frames) {
      const event = parseEvent(frame);
      if (event) onEvent(event);
    }
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    emit(parser.feed(value));
  }
  emit(parser.end());
}
