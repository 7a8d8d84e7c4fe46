import { getSession } from "../api/endpoints";
import { ApiError } from "../api/client";
import type { SessionView, Turn } from "../api/models";
import { percent, truncate } from "../format";
import { tidyAnswer } from "../citations";
import { splitModeLabel } from "./Chat";

/**
 * A turn as a reader wants it: without the memory-only label (turns stored before the server
 * kept it out still start with it) and without the ids in cited lines (the inspector has them).
 */
const withoutModeLabel = (content: string): string => tidyAnswer(splitModeLabel(content).body).text;
import { useAsync } from "../hooks/useAsync";

async function loadSession(sessionId: string): Promise<SessionView | null> {
  try {
    return await getSession(sessionId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function TurnRow({ turn, highlighted }: { turn: Turn; highlighted: boolean }) {
  return (
    <li className={highlighted ? "wm-turn highlighted" : "wm-turn"} data-testid="wm-turn" data-turn-index={turn.turn_index} data-highlighted={highlighted ? "true" : "false"}>
      <span className={`role ${turn.role}`}>
        #{turn.turn_index} {turn.role}
      </span>
      <span className="wm-text">{truncate(withoutModeLabel(turn.content), 200)}</span>
      <span className="muted">{turn.token_count} tok</span>
    </li>
  );
}

function TokenBar({ used, max }: { used: number; max: number }) {
  const share = percent(used, max);
  const level = share >= 90 ? "block" : share >= 70 ? "warn" : "ok";
  return (
    <div
      className="token-bar"
      data-testid="wm-token-bar"
      data-used={used}
      data-max={max}
      data-level={level}
      role="meter"
      aria-label="Working memory tokens"
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={used}
      aria-valuetext={`${used} of ${max} tokens (${share}%)`}
    >
      <div className={`token-fill ${level}`} style={{ width: `${Math.max(share, used > 0 ? 0.5 : 0)}%` }} />
      <span className="token-label">
        {used.toLocaleString()} / {max.toLocaleString()} tokens ({share}%)
      </span>
    </div>
  );
}

interface WorkingMemoryPanelProps {
  sessionId: string;
  fresh: boolean;
  version: number;
  highlightTurns: ReadonlySet<number>;
}

/** Token usage, the latest summary and the turns of the session's working memory. */
export function WorkingMemoryPanel({ sessionId, fresh, version, highlightTurns }: WorkingMemoryPanelProps) {
  const { data, error } = useAsync(() => (fresh ? Promise.resolve(null) : loadSession(sessionId)), [sessionId, fresh, version]);
  if (error)
    return (
      <div className="error pad" role="alert">
        Working memory could not be loaded. {error}
      </div>
    );
  if (!data) return <p className="muted pad">No turns in this session yet.</p>;
  const active = data.turns.filter((turn) => !turn.compressed);
  const compressed = data.turns.filter((turn) => turn.compressed);
  const summary = data.summaries[data.summaries.length - 1];
  return (
    <div className="wm">
      <TokenBar used={data.wm_current_tokens} max={data.wm_max_tokens} />
      <p className="muted">
        {data.turn_count} turns · {data.active_turn_count} active · consolidated up to turn {data.consolidated_until}
      </p>
      {summary && (
        <section className="card" data-testid="wm-summary">
          <h3>
            Latest summary <span className="muted">(up to turn {summary.boundary_index}, {summary.token_count} tok)</span>
          </h3>
          <p className="plain">{summary.content}</p>
        </section>
      )}
      {compressed.length > 0 && (
        <details className="card">
          <summary>{compressed.length} compressed turns</summary>
          <ul className="wm-turns">
            {compressed.map((turn) => (
              <TurnRow key={turn.turn_index} turn={turn} highlighted={highlightTurns.has(turn.turn_index)} />
            ))}
          </ul>
        </details>
      )}
      <h3>Recent turns</h3>
      <ul className="wm-turns">
        {active.map((turn) => (
          <TurnRow key={turn.turn_index} turn={turn} highlighted={highlightTurns.has(turn.turn_index)} />
        ))}
      </ul>
    </div>
  );
}
