import { useState } from "react";
import { clearSkills, deleteSkill, listSkills } from "../api/endpoints";
import type { Skill } from "../api/models";
import { errorText, localTime } from "../format";
import { useAsync } from "../hooks/useAsync";
import { useConfirm } from "../hooks/useConfirm";
import { Markdown } from "./Markdown";

function matchesFilter(skill: Skill, filter: string): boolean {
  const text = filter.trim().toLowerCase();
  return !text || `${skill.intent}\n${skill.doc_markdown}\n${skill.conditions}`.toLowerCase().includes(text);
}

function SkillItem({ skill, onDelete }: { skill: Skill; onDelete: () => void }) {
  return (
    <li className="skill" data-testid="skill-item" data-skill-id={skill.skill_id}>
      <details>
        <summary>
          <span className="skill-intent">{skill.intent}</span>
          <span className="muted small">
            used {skill.usage_count}× · {skill.success_count} successes · {localTime(skill.updated_at)}
          </span>
        </summary>
        {skill.conditions && <p className="muted">When: {skill.conditions}</p>}
        <Markdown text={skill.doc_markdown} />
      </details>
      <button type="button" className="icon" aria-label={`Delete skill “${skill.intent}”`} title="Delete skill" data-testid="skill-delete" onClick={onDelete}>
        <span aria-hidden="true">✕</span>
      </button>
    </li>
  );
}

/** Procedures learned from conversations: filter, read, delete. */
/** What the empty list says: true to how skills are learned in the server's mode. */
function EmptySkills({ memoryOnly }: { memoryOnly: boolean }) {
  if (!memoryOnly) {
    return (
      <p className="muted" data-testid="skills-empty">
        No skills yet. When a conversation shows a multi-step procedure that worked, consolidation saves it here as a reusable skill.
      </p>
    );
  }
  return (
    <div className="muted" data-testid="skills-empty">
      <p>No skills yet.</p>
      <p>
        In memory-only mode a skill is learned only from a list of at least three steps, one per line or numbered, under a title line — for example “How I deploy the
        blog:” followed by “1. Run npm run build”, “2. Upload the dist folder”, “3. Invalidate the cache”. A procedure told as running text is kept as a{" "}
        <b>procedure</b> memory in the Memory tree instead.
      </p>
    </div>
  );
}

export function SkillsPanel({ version, memoryOnly, onChanged }: { version: number; memoryOnly: boolean; onChanged: () => void }) {
  const [filter, setFilter] = useState("");
  const [error, setError] = useState<string | null>(null);
  const confirm = useConfirm();
  const skills = useAsync(listSkills, [version]);

  const run = async (title: string, message: string, action: () => Promise<unknown>) => {
    const answer = await confirm({ title, message });
    if (!answer.ok) return;
    try {
      await action();
      setError(null);
    } catch (reason) {
      setError(errorText(reason));
    }
    skills.reload();
    onChanged();
  };

  const shown = (skills.data?.skills ?? []).filter((skill) => matchesFilter(skill, filter));
  return (
    <div className="skills">
      <div className="toolbar">
        <input type="search" placeholder="Filter skills…" aria-label="Filter skills" data-testid="skill-filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <button
          type="button"
          className="danger small"
          data-testid="skill-clear"
          disabled={!skills.data?.skills.length}
          onClick={() => void run("Delete all skills?", "Every skill of this account will be deleted.", clearSkills)}
        >
          Clear all
        </button>
      </div>
      {(skills.error || error) && (
        <div className="error" role="alert">
          {skills.error ? `Skills could not be loaded. ${skills.error}` : error}{" "}
          {skills.error && (
            <button type="button" className="small" onClick={skills.reload}>
              Try again
            </button>
          )}
        </div>
      )}
      {skills.data && skills.data.skills.length === 0 && <EmptySkills memoryOnly={memoryOnly} />}
      <ul className="skill-list">
        {shown.map((skill) => (
          <SkillItem
            key={skill.skill_id}
            skill={skill}
            onDelete={() => void run("Delete skill?", `“${skill.intent}” will be deleted.`, () => deleteSkill(skill.skill_id))}
          />
        ))}
      </ul>
    </div>
  );
}
