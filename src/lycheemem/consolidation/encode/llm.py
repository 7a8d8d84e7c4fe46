"""LLM calls of consolidation: one extraction and one fusion/conflict judgement per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from lycheemem.domain.models import (
    RECORD_TYPES,
    ExtractedRecord,
    ExtractedSkill,
    MemoryRecord,
    Temporal,
    Turn,
)
from lycheemem.domain.ports import LLM
from lycheemem.errors import LLMOutputError

__all__ = [
    "ExtractionOutcome",
    "FusionDecision",
    "known_memories",
    "lean_schema",
    "llm_extract",
    "llm_fuse",
]

log = logging.getLogger(__name__)
MAX_RECORDS = 50

CONTEXT_TURN_CHARS = 600

EXTRACT_PROMPT = """Turn the BATCH turns into long-term memory records (CONTEXT turns: background).
- One atomic fact per record. Skip chit-chat, questions, tool output and what KNOWN MEMORIES hold.
- Write names, not pronouns or deictic words (the speaker's name, else "the user"/"the assistant").
- Make relative dates ("yesterday", "last Friday", "昨天") absolute from the @ time above the turn.
- Keep the conversation's language.
- Assistant-only statements: only as procedure, tool_affordance or failure_pattern, unless the
  user confirmed them.
- memory_type: fact|preference|event|constraint|procedure|failure_pattern|tool_affordance.
- normalized_text: short canonical subject-predicate-object phrasing.
- source_turn_indexes: the [n] of the source turns.
- skills: only multi-step procedures that demonstrably worked, not uses of a known skill.
- has_novelty: false if nothing is worth remembering. Omit empty lists and null fields.
Examples: @ 2026-03-15 10:00 Sun / [3 user Alice] I ran a half marathon yesterday! ->
{"memory_type":"event","semantic_text":"Alice ran a half marathon on 2026-03-14.",\
"normalized_text":"alice ran half marathon 2026-03-14","temporal":{"t_ref":"2026-03-14"},\
"source_turn_indexes":[3],"source_role":"user"}
[5 user] 我们的生产部署必须先通过迁移预演 -> constraint: 生产部署必须先通过数据库迁移预演."""

FUSE_PROMPT = """You maintain a memory store. Compare each NEW record (n1..) with the EXISTING
ones (e1..) and list only these decisions: "duplicate" (same meaning as target_id) or
"conflict_update" (it outdates target_id; give the target's updated_semantic_text and
updated_normalized_text); other new records are added. Propose composites: 2-8 closely related
records (n/e ids) that together form a generalised preference, a rule bundle, a timeline or a
usage pattern, with memory_type (composite_preference|composite_constraint|composite_event|
usage_pattern|composite_pattern), semantic_text and normalized_text. Use only given ids."""
_SCHEMA_NOISE = frozenset({"$defs", "default", "title", "description"})


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``$defs`` inlined and without defaults, titles or descriptions.

    An optional ``X | None`` field becomes plain ``X``: it is not required, so leaving it
    out says "none". The result is what the model must produce, in about half the tokens.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
        options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return walk({**options[0], **rest})
        lean: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":
                lean[key] = {name: walk(field) for name, field in value.items()}
            elif key not in _SCHEMA_NOISE:
                lean[key] = walk(value)
        return lean

    result: dict[str, Any] = walk(schema)
    return result


class _LeanSchema(BaseModel):
    """A model whose JSON schema (sent to the model as a hint) is ``lean_schema``'s."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The lean JSON schema of the model."""
        return lean_schema(super().model_json_schema(*args, **kwargs))


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


class ExtractionResult(_LeanSchema):
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


class FusionDecision(_LeanSchema):
    """The structured output of the fusion/conflict call."""

    decisions: list[_Decision] = Field(default_factory=list)
    composites: list[_CompositeProposal] = Field(default_factory=list)


def _local_minute(created_at: str, timezone: str) -> str:
    """``created_at`` as ``2026-03-15 10:00 Sun`` in ``timezone``; unparsable values as given."""
    from zoneinfo import ZoneInfo

    from lycheemem.domain.text.dates import parse_loose_datetime

    try:
        moment = parse_loose_datetime(created_at, timezone)
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        return created_at
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %a") if moment else created_at


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    # Both ends matter: the start names the topic, the end holds what the next turn answers.
    head = limit * 2 // 3
    return f"{text[:head]} … {text[head - limit :]}"


def _who(turn: Turn, content: str) -> str:
    speaker = turn.speaker
    if not speaker or speaker == turn.role or content.startswith(f"{speaker}:"):
        return turn.role
    return f"{turn.role} {speaker}"


def _render_turns(turns: Sequence[Turn], timezone: str, limit: int | None = None) -> str:
    """One ``[n role speaker] content`` line per turn, under an ``@ time`` line per new minute.

    The speaker is left out when it is the role or already opens the content (``Ann: ...``);
    timestamps are written once per change because turns of one session mostly share them.
    """
    lines: list[str] = []
    stamp = None
    for turn in turns:
        when = _local_minute(turn.created_at, timezone)
        if when != stamp:
            lines.append(f"@ {when}")
            stamp = when
        content = turn.content if limit is None else _shorten(turn.content, limit)
        lines.append(f"[{turn.turn_index} {_who(turn, content)}] {content}")
    return "\n".join(lines)


def _valid_date(value: str | None) -> str | None:
    from lycheemem.clock import parse_ts

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


def known_memories(retrieved: str, texts: Sequence[str]) -> str:
    """The job's retrieved context plus each related record text it does not already show.

    A record found both by the chat's retrieval and by the batch's similarity search would
    otherwise be sent twice.
    """
    shown = " ".join(retrieved.split())
    lines = [text for text in texts if " ".join(text.split()) not in shown]
    return "\n".join([retrieved.strip(), *lines]).strip()


async def llm_extract(
    llm: LLM, turns: Sequence[Turn], context: Sequence[Turn], known: str, timezone: str
) -> ExtractionOutcome:
    """One structured extraction call (re-asked once on invalid output)."""
    background = _render_turns(context, timezone, CONTEXT_TURN_CHARS) or "(none)"
    user = (
        f"Timezone: {timezone}\n\nCONTEXT TURNS:\n{background}\n\nBATCH TURNS:\n"
        f"{_render_turns(turns, timezone)}\n\nKNOWN MEMORIES:\n{known or '(none)'}"
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


def _record_line(alias: str, record: MemoryRecord) -> str:
    date = f", {record.temporal.t_ref}" if record.temporal.t_ref else ""
    return f"{alias} ({record.memory_type}{date}) {record.semantic_text}"


def _resolve_existing(decision: FusionDecision, existing: dict[str, str]) -> FusionDecision:
    """Replace the ``e<n>`` aliases of existing records with their record ids."""
    for item in decision.decisions:
        if item.target_id is not None:
            item.target_id = existing.get(item.target_id, item.target_id)
    for group in decision.composites:
        group.members = [existing.get(member, member) for member in group.members]
    return decision


async def llm_fuse(
    llm: LLM, fresh: Sequence[MemoryRecord], related: Sequence[MemoryRecord]
) -> FusionDecision | None:
    """One fusion/conflict call; None when the output cannot be used (everything is added).

    New records are called ``n1..`` (as in the returned decision) and existing ones
    ``e1..``; the returned decision names existing records by their record ids again.
    Short aliases spare the model copying 64-character ids (about 40 tokens each).
    """
    existing = {f"e{n}": r.record_id for n, r in enumerate(related, start=1)}
    new_lines = "\n".join(_record_line(f"n{n}", r) for n, r in enumerate(fresh, start=1))
    old_lines = "\n".join(_record_line(f"e{n}", r) for n, r in enumerate(related, start=1))
    user = f"NEW RECORDS:\n{new_lines}\n\nEXISTING RECORDS:\n{old_lines}"
    try:
        decision, _ = await llm.complete_json(
            [{"role": "system", "content": FUSE_PROMPT}, {"role": "user", "content": user}],
            FusionDecision,
            purpose="fuse",
        )
    except LLMOutputError as exc:
        log.warning("fusion output unusable, adding all records: %s", exc.message)
        return None
    return _resolve_existing(decision, existing)
