"""Batches of turns: how a job's turns are cut, which are skipped, and a batch's working state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lycheemem.domain.models import (
    CompositeRecord,
    ExtractedRecord,
    MemoryRecord,
    Skill,
    SourceRef,
    Turn,
)
from lycheemem.domain.prompts import MEMORY_ONLY_HEADER
from lycheemem.domain.text.terms import canon, record_id_for

__all__ = ["Batch", "cut_batches", "is_memory_echo", "new_record", "stated_at"]

DEFAULT_CONFIDENCE = {"user": 0.9, "both": 0.8, "assistant": 0.6}


def cut_batches(turns: Sequence[Turn], *, max_turns: int, max_chars: int) -> list[list[Turn]]:
    """Consecutive batches of at most ``max_turns`` turns and ``max_chars`` characters.

    A single longer turn forms its own batch; no turn is ever dropped.
    """
    batches: list[list[Turn]] = []
    current: list[Turn] = []
    size = 0
    for turn in turns:
        length = len(turn.content)
        if current and (len(current) >= max_turns or size + length > max_chars):
            batches.append(current)
            current, size = [], 0
        current.append(turn)
        size += length
    if current:
        batches.append(current)
    return batches


def is_memory_echo(turn: Turn) -> bool:
    """Whether ``turn`` is a memory-only answer: stored memories read back, not new knowledge.

    Consolidating it would turn recalled memories (and the question quoted in them) into
    fresh records and skills of their own.
    """
    if turn.role != "assistant":
        return False
    answer = (turn.metadata or {}).get("answer")
    if isinstance(answer, dict) and answer.get("mode") == "memory_only":
        return True
    # Turns stored before the label moved into the metadata still carry it in the text.
    return turn.content.lstrip().startswith(MEMORY_ONLY_HEADER)


def stated_at(turns: Sequence[Turn], now: str) -> str:
    """When a record was said: its latest source turn's time, never later than ``now``.

    Why not the consolidation time: imported or back-dated conversations (a client's
    ``created_at``) must place their memories at the time they were said, or temporal
    questions ("what did she do in May 2022?") cannot find facts that carry no date of their
    own. Both strings are in the canonical ISO format, so they compare as text.
    """
    latest = max((turn.created_at for turn in turns), default=now)
    return min(latest, now)


@dataclass
class Batch:
    """Working state of one batch between its steps."""

    user_id: str
    session_id: str
    turns: list[Turn]
    context: list[Turn]
    known: str
    now: str
    fresh: dict[str, MemoryRecord] = field(default_factory=dict)
    touched: dict[str, MemoryRecord] = field(default_factory=dict)
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    composites: list[tuple[CompositeRecord, list[str]]] = field(default_factory=list)
    expire_covering: list[str] = field(default_factory=list)
    skills: list[Skill] = field(default_factory=list)
    related_ids: list[str] = field(default_factory=list)


def new_record(batch: Batch, extracted: ExtractedRecord) -> MemoryRecord:
    """A tenant-scoped record of ``extracted``, sourced from the batch turns it names."""
    by_index = {turn.turn_index: turn for turn in batch.turns}
    indexes = sorted({i for i in extracted.source_turn_indexes if i in by_index})
    if not indexes:
        indexes = [t.turn_index for t in batch.turns if t.role == "user"] or [
            batch.turns[0].turn_index
        ]
    refs = [by_index[i].turn_id for i in indexes if by_index[i].turn_id]
    confidence = extracted.confidence
    if confidence is None:
        confidence = DEFAULT_CONFIDENCE.get(extracted.source_role, 0.7)
    return MemoryRecord(
        record_id=record_id_for(batch.user_id, extracted.normalized_text),
        user_id=batch.user_id,
        memory_type=extracted.memory_type,
        semantic_text=extracted.semantic_text[:1000],
        normalized_text=canon(extracted.normalized_text)[:1000],
        created_at=stated_at([by_index[i] for i in indexes], batch.now),
        updated_at=batch.now,
        entities=list(extracted.entities),
        temporal=extracted.temporal,
        task_tags=list(extracted.task_tags),
        tool_tags=list(extracted.tool_tags),
        constraint_tags=list(extracted.constraint_tags),
        failure_tags=list(extracted.failure_tags),
        affordance_tags=list(extracted.affordance_tags),
        confidence=confidence,
        source_role=extracted.source_role,
        source_session_id=batch.session_id,
        source_turn_ids=indexes,
        source_turn_refs=refs,  # type: ignore[arg-type]
        sources=[SourceRef(batch.session_id, indexes, refs)],  # type: ignore[arg-type]
    )
