"""Skills from numbered or bulleted procedures in a batch of turns (MEMORY.md §16.5)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lycheemem.consolidation.encode import discourse
from lycheemem.consolidation.encode.sentences import MAX_TEXT, split_sentences
from lycheemem.domain.models import ExtractedSkill, Turn
from lycheemem.domain.text import cues
from lycheemem.domain.text.redact import contains_secret

__all__ = ["skills_from_turns"]

# --- skills (§16.5) -------------------------------------------------------------------------


def _turn_groups(turns: Sequence[Turn]) -> list[list[Turn]]:
    groups: list[list[Turn]] = []
    for turn in turns:
        key = (turn.role, discourse.speaker_of(turn))
        if groups and (groups[-1][0].role, discourse.speaker_of(groups[-1][0])) == key:
            groups[-1].append(turn)
        else:
            groups.append([turn])
    return groups


def _list_block(lines: list[str]) -> tuple[str, list[str]]:
    """Return (heading, steps) for the first run of list items in ``lines``."""
    heading, steps, started = "", [], False
    for line in lines:
        marker = cues.LIST_ITEM_RE.match(line)
        if marker and line[marker.end() :].strip():
            steps.append(line[marker.end() :].strip())
            started = True
        elif started:
            break
        elif line.strip():
            heading = line.strip()
    return heading, steps


_INLINE_STEP_RE = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)](?=\s+\S)")


def _inline_list(lines: list[str]) -> tuple[str, list[str]]:
    """(heading, steps) of a list written on one line: ``To deploy: 1. Build 2. Push 3. Run``.

    Only markers numbered 1, 2, 3, ... in order count, so a stray ``v2.`` or ``at 5.`` inside
    a sentence does not start a list.
    """
    for line in lines:
        run: list[re.Match[str]] = []
        for marker in _INLINE_STEP_RE.finditer(line):
            if int(marker.group(1)) == len(run) + 1:
                run.append(marker)
        if len(run) < 3:
            continue
        ends = [m.start() for m in run[1:]] + [len(line)]
        steps = [line[m.end() : end].strip() for m, end in zip(run, ends, strict=True)]
        return line[: run[0].start()].strip(), [step for step in steps if step]
    return "", []


def _skill_from_group(group: list[Turn]) -> ExtractedSkill | None:
    speaker = discourse.speaker_of(group[0])
    text = "\n".join(discourse.strip_speaker_prefix(t.content or "", speaker) for t in group)
    if contains_secret(text):
        return None
    heading, steps = _list_block(text.splitlines())
    if len(steps) < 3:
        heading, steps = _inline_list(text.splitlines())
    if len(steps) < 3:
        return None
    if not (cues.has_action_cue(heading) or any(cues.has_action_cue(s) for s in steps)):
        return None
    intent = heading.rstrip(" :：") or split_sentences(text)[0][0]
    doc = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    conditions = " ".join(
        s for s, is_item in split_sentences(text) if not is_item and cues.constraint_cue(s)
    )
    return ExtractedSkill(
        intent=intent[:120],
        doc_markdown=doc,
        conditions=conditions[:MAX_TEXT],
        source_turn_indexes=[t.turn_index for t in group],
    )


def skills_from_turns(turns: Sequence[Turn]) -> list[ExtractedSkill]:
    """One skill per group of consecutive same-speaker turns that holds a procedure."""
    return [
        skill for group in _turn_groups(turns) if (skill := _skill_from_group(group)) is not None
    ]
