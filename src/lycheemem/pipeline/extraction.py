"""LLM calls of consolidation: one extraction and one fusion/conflict judgement per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from lycheemem.errors import LLMOutputError
from lycheemem.memory.models import (
    RECORD_TYPES,
    ExtractedRecord,
    ExtractedSkill,
    MemoryRecord,
    Temporal,
    Turn,
)
from lycheemem.memory.protocols import LLM

__all__ = ["ExtractionOutcome", "FusionDecision", "llm_extract", "llm_fuse"]

log = logging.getLogger(__name__)
MAX_RECORDS = 50

EXTRACT_PROMPT = """You turn a batch of conversation turns into long-term memory records.
Rules:
- Extract only from the BATCH turns (context turns are read-only background). One atomic fact per
  record. Skip chit-chat, questions, tool output and anything already in KNOWN MEMORIES.
- Decontextualise: replace pronouns and deictic words with explicit names (the speaker's name,
  else "the user" / "the assistant"); turn relative dates ("yesterday", "last Friday", "昨天")
  into absolute dates using each turn's timestamp; keep the conversation's language.
- Statements made only by the assistant are kept only as procedure, tool_affordance or
  failure_pattern, or when the user confirmed them.
- memory_type is one of: fact, preference, event, constraint, procedure, failure_pattern,
  tool_affordance. normalized_text is a short canonical subject-predicate-object phrasing.
- source_turn_indexes lists the turn_index values the record comes from.
- skills: only multi-step procedures that demonstrably worked (intent, doc_markdown, conditions).
- has_novelty is false when the batch adds nothing worth remembering.
Example: turn 3 (2026-03-15, Alice): "I ran a half marathon yesterday!" ->
{"memory_type": "event", "semantic_text": "Alice ran a half marathon on 2026-03-14.",
 "normalized_text": "alice ran half marathon 2026-03-14", "temporal": {"t_ref": "2026-03-14"},
 "source_turn_indexes": [3], "source_role": "user"}
例: "我们的生产部署必须先通过迁移预演" -> constraint "生产部署必须先通过数据库迁移预演"."""

FUSE_PROMPT = """You maintain a memory store. For each NEW record decide against the RELATED
existing records: "add" (new information), "duplicate" (same meaning as target_id) or
"conflict_update" (target_id is outdated by the new record: give updated_semantic_text and
updated_normalized_text for the target). Then propose composites: groups of 2-8 closely related
records (new ids n1.. or existing ids) that together form a generalised preference, a bundle of
rules, a timeline or a usage pattern, with the composite's memory_type (composite_preference,
composite_constraint, composite_event, usage_pattern, composite_pattern), semantic_text and
normalized_text. Only reference ids you were given."""


class _Temporal(BaseModel):
    t_ref: str | None = None
    t_valid_from: str | None = None
    t_valid_to: str | None = None


class _Record(BaseModel):
    memory_type: str
    semantic_text: str
    normalized_text: str = ""
    entities: list[str] = Field(default_factory=list)
    temporal: _Temporal = Field(default_factory=_Temporal)
    task_tags: list[str] = Field(default_factory=list)
    tool_tags: list[str] = Field(default_factory=list)
    constraint_tags: list[str] = Field(default_factory=list)
    failure_tags: list[str] = Field(default_factory=list)
    affordance_tags: list[str] = Field(default_factory=list)
    source_turn_indexes: list[int] = Field(default_factory=list)
    source_role: Literal["user", "assistant", "both"] = "user"
    confidence: float | None = Field(default=None, ge=0, le=1)


class _Skill(BaseModel):
    intent: str
    doc_markdown: str
    conditions: str = ""


class ExtractionResult(BaseModel):
    """The structured output of the extraction call."""

    has_novelty: bool = True
    records: list[_Record] = Field(default_factory=list)
    skills: list[_Skill] = Field(default_factory=list)


class ExtractionOutcome(BaseModel):
    """Validated extraction, converted to domain candidates."""

    model_config = {"arbitrary_types_allowed": True}
    has_novelty: bool
    records: list[ExtractedRecord]
    skills: list[ExtractedSkill]


class _Decision(BaseModel):
    new: str
    action: Literal["add", "duplicate", "conflict_update"] = "add"
    target_id: str | None = None
    updated_semantic_text: str | None = None
    updated_normalized_text: str | None = None
    reason: str | None = None


class _CompositeProposal(BaseModel):
    members: list[str] = Field(default_factory=list, max_length=8)
    child_composites: list[str] = Field(default_factory=list)
    memory_type: str | None = None
    semantic_text: str | None = None
    normalized_text: str | None = None
    reason: str | None = None

    @field_validator("memory_type")
    @classmethod
    def _known_type(cls, value: str | None) -> str | None:
        allowed = {
            "composite_preference",
            "composite_constraint",
            "composite_event",
            "usage_pattern",
            "composite_pattern",
        }
        return value if value in allowed else None


class FusionDecision(BaseModel):
    """The structured output of the fusion/conflict call."""

    decisions: list[_Decision] = Field(default_factory=list)
    composites: list[_CompositeProposal] = Field(default_factory=list)


def _render_turns(turns: Sequence[Turn]) -> str:
    return "\n".join(
        f"[turn_index={t.turn_index} time={t.created_at} role={t.role}"
        f" speaker={t.speaker or t.role}] {t.content}"
        for t in turns
    )


def _valid_date(value: str | None) -> str | None:
    from lycheemem.memory.clock import parse_ts

    if not value:
        return None
    try:
        parse_ts(value if "T" in value or len(value) != 10 else f"{value}T00:00:00")
    except ValueError:
        return None
    return value


def _convert(
    record: _Record, batch_indexes: set[int], user_indexes: list[int]
) -> ExtractedRecord | None:
    if record.memory_type not in RECORD_TYPES or not record.semantic_text.strip():
        return None
    indexes = [i for i in record.source_turn_indexes if i in batch_indexes] or user_indexes
    if not indexes:
        return None
    text = record.semantic_text.strip()[:1000]
    return ExtractedRecord(
        memory_type=record.memory_type,
        semantic_text=text,
        normalized_text=(record.normalized_text.strip() or text)[:1000],
        entities=record.entities[:20],
        temporal=Temporal(
            _valid_date(record.temporal.t_ref),
            _valid_date(record.temporal.t_valid_from),
            _valid_date(record.temporal.t_valid_to),
        ),
        task_tags=record.task_tags,
        tool_tags=record.tool_tags,
        constraint_tags=record.constraint_tags,
        failure_tags=record.failure_tags,
        affordance_tags=record.affordance_tags,
        source_turn_indexes=indexes,
        source_role=record.source_role,
        confidence=record.confidence,
    )


async def llm_extract(
    llm: LLM, turns: Sequence[Turn], context: Sequence[Turn], known: str, timezone: str
) -> ExtractionOutcome:
    """One structured extraction call (re-asked once on invalid output)."""
    user = (
        f"Timezone: {timezone}\n\nCONTEXT TURNS (read-only):\n{_render_turns(context) or '(none)'}"
        f"\n\nBATCH TURNS:\n{_render_turns(turns)}\n\nKNOWN MEMORIES:\n{known or '(none)'}"
    )
    result, _ = await llm.complete_json(  # type: ignore[call-arg]
        [{"role": "system", "content": EXTRACT_PROMPT}, {"role": "user", "content": user}],
        ExtractionResult,
        purpose="extract",
        reask_on_invalid=True,
    )
    batch_indexes = {t.turn_index for t in turns}
    user_indexes = [t.turn_index for t in turns if t.role == "user"]
    records = [
        r
        for r in (_convert(x, batch_indexes, user_indexes) for x in result.records[:MAX_RECORDS])
        if r is not None
    ]
    skills = [
        ExtractedSkill(s.intent.strip()[:200], s.doc_markdown.strip(), s.conditions.strip())
        for s in result.skills
        if s.intent.strip() and s.doc_markdown.strip()
    ]
    return ExtractionOutcome(has_novelty=result.has_novelty, records=records, skills=skills)


async def llm_fuse(
    llm: LLM, fresh: Sequence[MemoryRecord], related: Sequence[MemoryRecord]
) -> FusionDecision | None:
    """One fusion/conflict call; None when the output cannot be used (everything is added)."""
    new_lines = "\n".join(
        f"n{n} ({r.memory_type}, {r.temporal.t_ref or '-'}) {r.semantic_text}"
        for n, r in enumerate(fresh, start=1)
    )
    old_lines = "\n".join(
        f"{r.record_id} ({r.memory_type}, {r.temporal.t_ref or '-'}) {r.semantic_text}"
        for r in related
    )
    user = f"NEW RECORDS:\n{new_lines}\n\nRELATED EXISTING RECORDS:\n{old_lines}"
    try:
        decision, _ = await llm.complete_json(  # type: ignore[call-arg]
            [{"role": "system", "content": FUSE_PROMPT}, {"role": "user", "content": user}],
            FusionDecision,
            purpose="fuse",
        )
    except LLMOutputError as exc:
        log.warning("fusion output unusable, adding all records: %s", exc.message)
        return None
    return decision
