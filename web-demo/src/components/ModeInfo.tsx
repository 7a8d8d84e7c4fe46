import type { PipelineStatus } from "../api/models";
import { Modal } from "./ui/Modal";

const SEEN_KEY = "lychee_mode_explained";

export const modeExplained = (): boolean => localStorage.getItem(SEEN_KEY) === "1";
export const markModeExplained = (): void => localStorage.setItem(SEEN_KEY, "1");

/** The plain-words explanation of memory-only mode and how to turn on generated answers. */
function MemoryOnlyText() {
  return (
    <>
      <p>
        No language model is configured on this server, so it does not write replies. It still remembers: every message is stored, and a few seconds later
        <b> consolidation</b> turns it into memory records you can browse in the <b>Memory tree</b>.
      </p>
      <p>
        The reply to a message lists the stored memories that match it, or says that none match yet. Statements about yourself are stored even when the reply says nothing
        matches.
      </p>
      <p>
        To get written answers, set <code>LYCHEEMEM_LLM_MODEL</code> (for example <code>openai/gpt-4o-mini</code> or <code>ollama_chat/qwen2.5</code>) and, if the
        provider needs one, <code>LYCHEEMEM_LLM_API_KEY</code> in <code>.env</code>, then restart the server.
      </p>
    </>
  );
}

/** Shown once above the chat in memory-only mode until dismissed (remembered in this browser). */
export function ModeNotice({ onDismiss }: { onDismiss: () => void }) {
  return (
    <section className="mode-notice" aria-labelledby="mode-notice-title" data-testid="mode-notice">
      <h2 id="mode-notice-title">Memory-only mode</h2>
      <MemoryOnlyText />
      <button type="button" className="primary small" data-testid="mode-notice-dismiss" onClick={onDismiss}>
        Got it
      </button>
    </section>
  );
}

/** The dialog behind the header's mode badge. */
export function ModeDialog({ status, onClose }: { status: PipelineStatus | null; onClose: () => void }) {
  const memoryOnly = status?.mode !== "llm";
  return (
    <Modal labelledBy="mode-title" className="info" testId="mode-dialog" onClose={onClose}>
      <h2 id="mode-title">{memoryOnly ? "Memory-only mode" : "Answers by a language model"}</h2>
      {memoryOnly ? (
        <MemoryOnlyText />
      ) : (
        <p>
          Replies are written by <code>{status?.llm_model}</code> from the conversation and the memories found for it. Every turn is stored and consolidated into memory in
          the background.
        </p>
      )}
      {status && (
        <p className="muted small">
          Server {status.version} · embeddings {status.embedding_model}
        </p>
      )}
      <div className="modal-actions">
        <button type="button" className="primary" data-testid="mode-dialog-close" onClick={onClose}>
          Close
        </button>
      </div>
    </Modal>
  );
}
