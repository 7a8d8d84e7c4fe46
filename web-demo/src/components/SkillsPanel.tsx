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
      <button type="button" className="icon" title="Delete skill" data-testid="skill-delete" onClick={onDelete}>
        ✕
      </button>
    </li>
  );
}

/** Procedures learned from conversations: filter, read, delete. */
export function SkillsPanel({ version, onChanged }: { version: number; onChanged: () => void }) {
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
      {(skills.error || error) && <div className="error">{skills.error ?? error}</div>}
      {skills.data && skills.data.skills.length === 0 && <p className="muted">No skills yet. Describe a procedure step by step and it is learned after consolidation.</p>}
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
