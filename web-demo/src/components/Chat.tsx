import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { sendFeedback } from "../api/endpoints";
import { STEP_NAMES } from "../api/models";
import { errorText } from "../format";
import type { ChatState, Message, Steps } from "../hooks/useChat";
import { Markdown } from "./Markdown";

const STEP_LABELS: Record<string, string> = {
  wm_manager: "Working memory",
  search: "Search",
  synthesize: "Synthesize",
  reason: "Reason",
};

const MEMORY_ONLY_LABEL = /^\[memory-only mode:[^\]\n]*\]\n?/;

/** Split the server's memory-only label off an answer so it can be shown as a badge. */
export function splitModeLabel(content: string): { label: string | null; body: string } {
  const match = MEMORY_ONLY_LABEL.exec(content);
  return match ? { label: match[0].trim().slice(1, -1), body: content.slice(match[0].length) } : { label: null, body: content };
}

function StepTimeline({ steps }: { steps: Steps }) {
  return (
    <ol className="steps" aria-label="Pipeline steps">
      {STEP_NAMES.map((name) => {
        const step = steps[name];
        return (
          <li key={name} className={`step ${step.status}`} data-testid={`step-${name}`} data-status={step.status}>
            <span className="step-dot" aria-hidden="true" />
            <span className="step-name">{STEP_LABELS[name]}</span>
            <span className="step-time">{step.ms !== null ? `${step.ms} ms` : step.status === "running" ? "…" : ""}</span>
          </li>
        );
      })}
    </ol>
  );
}

function Feedback({ usageLogId }: { usageLogId: string }) {
  const [sent, setSent] = useState<"positive" | "negative" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const rate = async (feedback: "positive" | "negative") => {
    setError(null);
    try {
      await sendFeedback({ usage_log_id: usageLogId, feedback });
      setSent(feedback);
    } catch (reason) {
      setError(errorText(reason));
    }
  };
  return (
    <span className="feedback">
      <button type="button" className={sent === "positive" ? "icon on" : "icon"} title="Helpful" data-testid="feedback-up" onClick={() => rate("positive")}>
        ▲
      </button>
      <button type="button" className={sent === "negative" ? "icon on" : "icon"} title="Not helpful" data-testid="feedback-down" onClick={() => rate("negative")}>
        ▼
      </button>
      {error && <span className="error small">{error}</span>}
    </span>
  );
}

interface BubbleProps {
  message: Message;
  highlighted: boolean;
  onCite: (message: Message, index: number) => void;
}

function MessageBubble({ message, highlighted, onCite }: BubbleProps) {
  const isUser = message.role === "user";
  const { label, body } = isUser ? { label: null, body: message.content } : splitModeLabel(message.content);
  const citations = new Set(message.provenance.map((item) => item.index));
  return (
    <div
      className={`message ${message.role}${highlighted ? " highlighted" : ""}${message.failed ? " failed" : ""}`}
      data-testid={isUser ? "message-user" : "message-assistant"}
      data-turn-index={message.turnIndex ?? undefined}
      data-highlighted={highlighted ? "true" : "false"}
      data-streaming={message.streaming ? "true" : "false"}
    >
      {label && (
        <span className="badge mode memory_only" data-testid="memory-only-label" title={label}>
          memory-only · stored memories, not a generated answer
        </span>
      )}
      {isUser ? <p className="plain">{body}</p> : <Markdown text={body} citations={citations} onCite={(index) => onCite(message, index)} />}
      {message.streaming && <span className="cursor" aria-label="streaming" />}
      {!isUser && !message.streaming && message.usageLogId && <Feedback usageLogId={message.usageLogId} />}
    </div>
  );
}

interface ChatProps {
  chat: ChatState;
  highlightTurns: ReadonlySet<number>;
  onCite: (message: Message, index: number) => void;
}

/** The conversation of the current session with the step timeline and the composer. */
export function Chat({ chat, highlightTurns, onCite }: ChatProps) {
  const [draft, setDraft] = useState("");
  const listRef = useRef<HTMLDivElement>(null);
  const lastLength = chat.messages.length ? chat.messages[chat.messages.length - 1].content.length : 0;

  useEffect(() => {
    const list = listRef.current;
    if (!list) return;
    const target = highlightTurns.size ? list.querySelector<HTMLElement>('[data-highlighted="true"]') : null;
    if (target) target.scrollIntoView({ block: "center" });
    else list.scrollTop = list.scrollHeight;
  }, [chat.messages.length, lastLength, highlightTurns]);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || chat.streaming) return;
    setDraft("");
    void chat.send(text);
  };
  const onKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
  };

  return (
    <section className="chat" aria-label="Chat">
      <StepTimeline steps={chat.steps} />
      {chat.banner && (
        <div className="banner error" role="alert" data-testid="chat-error">
          <span>
            {chat.banner.message} <span className="muted">({chat.banner.code}{chat.banner.traceId ? ` · trace ${chat.banner.traceId}` : ""})</span>
          </span>
          <button type="button" className="icon" aria-label="Dismiss" onClick={chat.dismissBanner}>
            ✕
          </button>
        </div>
      )}
      <div className="messages" ref={listRef}>
        {chat.loadingHistory && <div className="muted center">Loading…</div>}
        {!chat.loadingHistory && chat.messages.length === 0 && (
          <div className="empty">
            <h2>Start a conversation</h2>
            <p className="muted">Tell it something about yourself, then ask about it in another session.</p>
          </div>
        )}
        {chat.messages.map((message) => (
          <MessageBubble
            key={message.key}
            message={message}
            highlighted={message.turnIndex !== null && highlightTurns.has(message.turnIndex)}
            onCite={onCite}
          />
        ))}
      </div>
      <form className="composer" onSubmit={submit}>
        <textarea
          data-testid="chat-input"
          aria-label="Message"
          placeholder="Message (Enter to send, Shift+Enter for a new line)"
          rows={2}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onKey}
        />
        <button type="submit" className="primary" data-testid="chat-send" disabled={chat.streaming || !draft.trim()}>
          {chat.streaming ? "…" : "Send"}
        </button>
      </form>
    </section>
  );
}
