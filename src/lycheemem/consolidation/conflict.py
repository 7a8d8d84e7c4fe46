"""Conflict resolution: which stored record a new one corrects, and the update it makes."""

from __future__ import annotations

from lycheemem.consolidation.batching import Batch
from lycheemem.consolidation.fusion import heuristic as fusion
from lycheemem.consolidation.merging import add_sources
from lycheemem.domain.models import (
    MemoryRecord,
)
from lycheemem.domain.text.terms import canon

__all__ = ["claim_target", "conflict_update", "similar_target"]

CONFLICT_SIMILARITY = 0.85
# An update cue ("now", "moved to", "no longer" ...) makes a correction likely, so a less
# similar neighbour still counts (MEMORY.md §12.5).
CUE_CONFLICT_SIMILARITY = 0.75


def claim_target(
    batch: Batch,
    record: MemoryRecord,
    earlier: list[str],
    neighbours: list[MemoryRecord] | None,
) -> MemoryRecord | None:
    """The most recent record (earlier in this batch, else stored) that ``record``
    corrects by claim; None when there is none."""
    candidates = [batch.fresh[i] for i in reversed(earlier) if i in batch.fresh]
    candidates += [batch.touched.get(r.record_id, r) for r in neighbours or ()]
    for candidate in candidates:
        if candidate.expired or candidate.memory_type not in fusion.CONFLICT_TYPES:
            continue
        if fusion.supersedes(record.semantic_text, candidate.semantic_text):
            return candidate
    for candidate in candidates:
        if candidate.expired or candidate.memory_type not in fusion.CONFLICT_TYPES:
            continue
        if fusion.updates(record.semantic_text, candidate.semantic_text):
            return candidate
    return None


def similar_target(
    batch: Batch,
    record: MemoryRecord,
    row: list[tuple[str, float]],
    related: dict[str, MemoryRecord],
) -> MemoryRecord | None:
    """A near-identical stored statement of the same type that ``record`` contradicts
    in a number, a date or a negation."""
    cue = fusion.UPDATE_CUE.search(record.semantic_text) is not None
    threshold = CUE_CONFLICT_SIMILARITY if cue else CONFLICT_SIMILARITY
    for item_id, score in row:
        target = related.get(item_id)
        if target is None or score < threshold:
            continue
        # With an update cue the type may differ ("booked flight X on the 12th", an
        # event, is corrected by "now flies Y on the 13th", a fact).
        if target.memory_type != record.memory_type and not (
            cue and target.memory_type in fusion.CONFLICT_TYPES
        ):
            continue
        if fusion.conflicts(record.semantic_text, target.semantic_text):
            return target
    return None


def conflict_update(
    batch: Batch,
    target: MemoryRecord,
    incoming: MemoryRecord,
    reason: str,
    text: str | None = None,
    normalized: str | None = None,
) -> None:
    """Correct ``target`` with ``incoming``'s text, keeping the old text in its history."""
    target = batch.touched.get(target.record_id, target)
    target.history = (
        [
            {
                "semantic_text": target.semantic_text,
                "normalized_text": target.normalized_text,
                "replaced_at": batch.now,
                "reason": reason,
            }
        ]
        + target.history
    )[:5]
    target.semantic_text = text or incoming.semantic_text
    target.normalized_text = canon(normalized or incoming.normalized_text)
    target.temporal = incoming.temporal
    for column in (
        "task_tags",
        "tool_tags",
        "constraint_tags",
        "failure_tags",
        "affordance_tags",
    ):
        setattr(target, column, list(getattr(incoming, column)))
    target.entities = list(incoming.entities)
    target.version += 1
    add_sources(target, incoming.sources)
    target.updated_at = batch.now
    batch.touched[target.record_id] = target
    incoming.expired, incoming.expired_at = True, batch.now
    incoming.expired_reason, incoming.superseded_by = "conflict_merged", target.record_id
    batch.fresh.pop(incoming.record_id, None)
    batch.touched[incoming.record_id] = incoming
    batch.vectors.pop(target.record_id, None)
    batch.expire_covering.append(target.record_id)
