import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";
import { Modal } from "../components/ui/Modal";

export interface ConfirmOptions {
  title: string;
  message: string;
  confirmLabel?: string;
  checkboxLabel?: string;
}

export interface ConfirmResult {
  ok: boolean;
  checked: boolean;
}

type Ask = (options: ConfirmOptions) => Promise<ConfirmResult>;

const ConfirmContext = createContext<Ask>(async () => ({ ok: false, checked: false }));

interface Pending extends ConfirmOptions {
  resolve: (result: ConfirmResult) => void;
}

/**
 * A modal confirmation (with an optional checkbox) reachable from any view. The safe choice,
 * Cancel, has the focus when it opens; Escape, a backdrop click and Cancel all decline.
 */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [pending, setPending] = useState<Pending | null>(null);
  const [checked, setChecked] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const ask = useCallback<Ask>(
    (options) =>
      new Promise((resolve) => {
        setChecked(false);
        setPending({ ...options, resolve });
      }),
    [],
  );
  const close = (ok: boolean) => {
    pending?.resolve({ ok, checked });
    setPending(null);
  };
  return (
    <ConfirmContext.Provider value={ask}>
      {children}
      {pending && (
        <Modal labelledBy="confirm-title" role="alertdialog" className="confirm" testId="confirm-dialog" initialFocus={cancelRef} onClose={() => close(false)}>
          <h2 id="confirm-title">{pending.title}</h2>
          <p>{pending.message}</p>
          {pending.checkboxLabel && (
            <label className="checkbox">
              <input type="checkbox" data-testid="confirm-checkbox" checked={checked} onChange={(event) => setChecked(event.target.checked)} />
              {pending.checkboxLabel}
            </label>
          )}
          <div className="modal-actions">
            <button type="button" ref={cancelRef} className="ghost" data-testid="confirm-cancel" onClick={() => close(false)}>
              Cancel
            </button>
            <button type="button" className="danger" data-testid="confirm-ok" onClick={() => close(true)}>
              {pending.confirmLabel ?? "Delete"}
            </button>
          </div>
        </Modal>
      )}
    </ConfirmContext.Provider>
  );
}

export const useConfirm = (): Ask => useContext(ConfirmContext);
