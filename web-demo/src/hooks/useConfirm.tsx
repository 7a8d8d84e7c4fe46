import { createContext, useCallback, useContext, useState, type ReactNode } from "react";

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

/** An in-page confirmation dialog (with an optional checkbox) reachable from any view. */
export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [pending, setPending] = useState<Pending | null>(null);
  const [checked, setChecked] = useState(false);
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
        <div className="modal-backdrop" onKeyDown={(event) => event.key === "Escape" && close(false)}>
          <div className="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-testid="confirm-dialog">
            <h3 id="confirm-title">{pending.title}</h3>
            <p>{pending.message}</p>
            {pending.checkboxLabel && (
              <label className="checkbox">
                <input
                  type="checkbox"
                  data-testid="confirm-checkbox"
                  checked={checked}
                  onChange={(event) => setChecked(event.target.checked)}
                />
                {pending.checkboxLabel}
              </label>
            )}
            <div className="modal-actions">
              <button type="button" className="ghost" data-testid="confirm-cancel" onClick={() => close(false)}>
                Cancel
              </button>
              <button type="button" className="danger" data-testid="confirm-ok" autoFocus onClick={() => close(true)}>
                {pending.confirmLabel ?? "Delete"}
              </button>
            </div>
          </div>
        </div>
      )}
    </ConfirmContext.Provider>
  );
}

export const useConfirm = (): Ask => useContext(ConfirmContext);
