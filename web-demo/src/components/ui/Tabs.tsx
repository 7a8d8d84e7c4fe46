import { useRef, type KeyboardEvent } from "react";

interface TabsProps<T extends string> {
  /** Prefix of the tab and panel ids (`${idPrefix}-tab-${name}`, `${idPrefix}-panel-${name}`). */
  idPrefix: string;
  label: string;
  tabs: readonly (readonly [T, string])[];
  selected: T;
  onSelect: (name: T) => void;
  /** Test ids: `${testPrefix}${name}`. */
  testPrefix: string;
  /** Id of the single panel all tabs control, when they share one (the login form). */
  sharedPanelId?: string;
}

export const tabId = (prefix: string, name: string) => `${prefix}-tab-${name}`;
export const panelId = (prefix: string, name: string) => `${prefix}-panel-${name}`;

/** An ARIA tab list: one tab in the Tab order, arrow keys / Home / End move and select. */
export function Tabs<T extends string>({ idPrefix, label, tabs, selected, onSelect, testPrefix, sharedPanelId }: TabsProps<T>) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const onKey = (event: KeyboardEvent<HTMLButtonElement>, position: number) => {
    const moves: Record<string, number> = { ArrowRight: position + 1, ArrowLeft: position - 1, Home: 0, End: tabs.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = (moves[event.key] + tabs.length) % tabs.length;
    onSelect(tabs[next][0]);
    refs.current[next]?.focus();
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map(([name, text], position) => (
        <button
          key={name}
          ref={(element) => {
            refs.current[position] = element;
          }}
          type="button"
          role="tab"
          id={tabId(idPrefix, name)}
          aria-selected={selected === name}
          aria-controls={sharedPanelId ?? panelId(idPrefix, name)}
          tabIndex={selected === name ? 0 : -1}
          className={selected === name ? "tab active" : "tab"}
          data-testid={`${testPrefix}${name}`}
          onClick={() => onSelect(name)}
          onKeyDown={(event) => onKey(event, position)}
        >
          {text}
        </button>
      ))}
    </div>
  );
}
