import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { sendFeedback } from "../api/endpoints";
import { STEP_NAMES, type FeedbackLabel } from "../api/models";
import { tidyAnswer } from "../citations";
import { errorText, truncate } from "../format";
import type { ChatState, Message, Steps } from "../hooks/useChat";
import { Markdown } from "./Markdown";
import { ModeNotice } from "./ModeInfo";

const STEP_LABELS: Record<string, string> = {
  wm_manager: "Working memory",
  search: "Search",
  synthesize: "Synthesize",
  reason: "Reason",
};

const MEMORY_ONLY_LABEL = /^\[memory-only mode:[^\]\n]*\]\n?/;

/** Split the server's memory-only label off a live answer so it can be shown as a badge. */
export function splitModeLabel(content: string): { label: string | null; body: string } {
  const match = MEMORY_ONLY_LABEL.exec(content);
  return match ? { label: match[0].trim().slice(1, -1), body: content.slice(match[0].length) } : { label: null, body: content };
}

function StepTimeline({ steps }: { steps: Steps }) {
  return (
    <ol className="steps" aria-label="Pipeline steps of the last turn">
      {STEP_NAMES.map((name) => {
        const step = steps[name];
        return (
          <li key={name} className={`step ${step.status}`} data-testid={`step-${name}`} data-status={step.status}>
            <span className="step-dot" aria-hidden="true" />
            <span className="step-name">{STEP_LABELS[name]}</span>
            <span className="sr-only">: {step.status}</span>
            <span className="step-time">{step.ms !== null ? `${step.ms} ms` : step.status === "running" ? "…" : ""}</span>
          </li>
        );
      })}
    </ol>
  );
}

function Feedback({ usageLogId, initial }: { usageLogId: string; initial: FeedbackLabel | null }) {
  const [sent, setSent] = useState<FeedbackLabel | null>(initial);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setSent(initial), [initial]);
  const rate = async (feedback: "positive" | "negative") => {
    setError(null);
    try {
      await sendFeedback({ usage_log_id: usageLogId, feedback });
      setSent(feedback);
    } catch (reason) {
      setError(`Feedback was not saved. ${errorText(reason)}`);
    }
  };
  return (
    <div className="feedback" role="group" aria-label="Was this answer helpful?" data-testid="feedback" data-sent={sent ?? ""}>
      <button type="button" className={sent === "positive" ? "icon on" : "icon"} aria-label="Helpful" aria-pressed={sent === "positive"} data-testid="feedback-up" onClick={() => void rate("positive")}>
        <span aria-hidden="true">▲</span>
      </button>
      <button type="button" className={sent === "negative" ? "icon on" : "icon"} aria-label="Not helpful" aria-pressed={sent === "negative"} data-testid="feedback-down" onClick={() => void rate("negative")}>
        <span aria-hidden="true">▼</span>
      </button>
      {sent && <span className="muted small">{sent === "positive" ? "Marked helpful" : "Marked not helpful"}</span>}
      {error && (
        <span className="error small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

interface BubbleProps {
  message: Message;
  highlighted: boolean;
  status: string;
  onCite: (message: Message, index: number) => void;
  citeLabel: (message: Message, index: number, date: string | undefined) => string;
}

function MessageBubble({ message, highlighted, status, onCite, citeLabel }: BubbleProps) {
  const isUser = message.role === "user";
  const split = isUser ? { label: null, body: message.content } : splitModeLabel(message.content);
  const memoryOnly = !isUser && (split.label !== null || message.mode === "memory_only");
  const tidy = isUser ? { text: split.body, dates: new Map<number, string>() } : tidyAnswer(split.body);
  const citations = new Set(message.provenance.map((item) => item.index));
  const waiting = message.streaming && !message.content;
  return (
    <article
      className={`message ${message.role}${highlighted ? " highlighted" : ""}${message.failed ? " failed" : ""}`}
      data-testid={isUser ? "message-user" : "message-assistant"}
      data-turn-index={message.turnIndex ?? undefined}
      data-highlighted={highlighted ? "true" : "false"}
      data-streaming={message.streaming ? "true" : "false"}
      aria-label={isUser ? "You" : "LycheeMem"}
    >
      {memoryOnly && (
        <span className="badge mode memory_only" data-testid="memory-only-label">
          memory-only · stored memories, not a written reply
        </span>
      )}
      {isUser ? (
        <p className="plain">{tidy.text}</p>
      ) : waiting ? (
        <p className="muted thinking">Looking through memory…</p>
      ) : (
        <Markdown text={tidy.text} citations={citations} onCite={(index) => onCite(message, index)} citeLabel={(index) => citeLabel(message, index, tidy.dates.get(index))} />
      )}
      {message.streaming && !waiting && <span className="cursor" aria-hidden="true" />}
      {isUser && message.failed && <p className="error small">Not answered</p>}
      {!isUser && status && (
        <p className="turn-status" data-testid="turn-status">
          {status}
        </p>
      )}
      {!isUser && !message.streaming && message.usageLogId && <Feedback usageLogId={message.usageLogId} initial={message.feedback} />}
    </article>
  );
}

interface ChatProps {
  chat: ChatState;
  title: string;
  highlightTurns: ReadonlySet<number>;
  showModeNotice: boolean;
  onDismissModeNotice: () => void;
  /** The consolidation line shown under the latest answer of this page ("" for none). */
  turnStatus: string;
  onCite: (message: Message, index: number) => void;
  citeLabel: (message: Message, index: number, date: string | undefined) => string;
}

/** The conversation of the current session with the step timeline and the composer. */
export function Chat({ chat, title, highlightTurns, showModeNotice, onDismissModeNotice, turnStatus, onCite, citeLabel }: ChatProps) {
  const [draft, setDraft] = useState("");
  const listRef = useRef<HTMLDivElement>(null);
  const lastLength = chat.messages.length ? chat.messages[chat.messages.length - 1].content.length : 0;
  const lastAssistant = [...chat.messages].reverse().find((message) => message.role === "assistant");
  // Screen readers hear the start of a finished answer, not only that it finished.
  const spoken =
    chat.announcement.startsWith("Answer ready") && lastAssistant && !lastAssistant.streaming
      ? `${chat.announcement} ${truncate(tidyAnswer(splitModeLabel(lastAssistant.content).body).text.replace(/\s+/g, " ").trim(), 240)}`
      : chat.announcement;

  useEffect(() => {
    const list = listRef.current;
    if (!list) return;
    const target = highlightTurns.size ? list.querySelector<HTMLElement>('[data-highlighted="true"]') : null;
    if (target) target.scrollIntoView({ block: "center" });
    else list.scrollTop = list.scrollHeight;
  }, [chat.messages.length, lastLength, highlightTurns, turnStatus]);

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
    <section className="chat" aria-labelledby="chat-title">
      <h2 id="chat-title" className="sr-only">
        Conversation: {title}
      </h2>
      <StepTimeline steps={chat.steps} />
      <div className="sr-only" role="status" aria-live="polite" data-testid="live-region">
        {spoken}
      </div>
      {chat.banner && (
        <div className="banner error" role="alert" data-testid="chat-error">
          <p>
            {chat.banner.message}
            {chat.banner.traceId && <span className="muted small"> Reference {chat.banner.traceId}.</span>}
          </p>
          <div className="banner-actions">
            {chat.banner.retryText && (
              <button type="button" className="primary small" data-testid="chat-retry" onClick={chat.retry}>
                Try again
              </button>
            )}
            <button type="button" className="icon" aria-label="Dismiss the error" data-testid="chat-error-dismiss" onClick={chat.dismissBanner}>
              <span aria-hidden="true">✕</span>
            </button>
          </div>
        </div>
      )}
      <div className="messages" ref={listRef}>
        {showModeNotice && <ModeNotice onDismiss={onDismissModeNotice} />}
        {chat.loadingHistory && <div className="muted center">Loading…</div>}
        {!chat.loadingHistory && chat.messages.length === 0 && (
          <div className="empty">
            <h3>Start a conversation</h3>
            <p className="muted">Tell it something about yourself, then ask about it in another session.</p>
          </div>
        )}
        {chat.messages.map((message) => (
          <MessageBubble
            key={message.key}
            message={message}
            highlighted={message.turnIndex !== null && highlightTurns.has(message.turnIndex)}
            status={message === lastAssistant && !message.streaming ? turnStatus : ""}
            onCite={onCite}
            citeLabel={citeLabel}
          />
        ))}
      </div>
      <form className="composer" onSubmit={submit}>
        <label htmlFor="chat-input" className="sr-only">
          Message
        </label>
        <textarea
          id="chat-input"
          data-testid="chat-input"
          placeholder="Message (Enter to send, Shift+Enter for a new line)"
          rows={2}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onKey}
        />
        <button type="submit" className="primary" data-testid="chat-send" disabled={chat.streaming || !draft.trim()}>
          {chat.streaming ? "Sending…" : "Send"}
        </button>
      </form>
    </section>
  );
}
