"""Merging a record into a stored one: sources, texts, temporal spans, nearest neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lycheemem.consolidation.batching import Batch
from lycheemem.consolidation.report import JobReport
from lycheemem.domain.models import (
    MAX_SOURCES,
    MemoryRecord,
    SourceRef,
    Temporal,
)

__all__ = ["add_sources", "close_fresh", "closest", "merge", "merge_into", "span", "union_labels"]

LLM_RELATED_PER_RECORD = 3
LLM_RELATED_MAX = 16
LLM_RELATED_MIN_SIMILARITY = 0.8


def merge(batch: Batch, target: MemoryRecord, incoming: MemoryRecord, report: JobReport) -> None:
    """Fold ``incoming`` into ``target`` (the batch's latest copy of it) and count a merge."""
    target = batch.touched.get(target.record_id, target)
    merge_into(target, incoming, batch.now)
    batch.touched[target.record_id] = target
    report.records_merged += 1


def closest(
    hits: Sequence[Sequence[tuple[str, float]]],
    related: dict[str, MemoryRecord],
    fresh_ids: Sequence[str],
) -> dict[str, MemoryRecord]:
    """The related records worth an LLM's attention: per new record its closest
    ``LLM_RELATED_PER_RECORD`` neighbours above ``LLM_RELATED_MIN_SIMILARITY``, at most
    ``LLM_RELATED_MAX`` overall, closest first. Keeps the fusion prompt small (the full
    neighbour lists cost ~3k tokens per batch) and skips the call when nothing is close."""
    ranked: dict[str, float] = {}
    fresh = set(fresh_ids)
    for row in hits:
        kept = 0
        for item_id, score in row:
            if item_id in fresh or item_id not in related or score < LLM_RELATED_MIN_SIMILARITY:
                continue
            ranked[item_id] = max(ranked.get(item_id, 0.0), float(score))
            kept += 1
            if kept >= LLM_RELATED_PER_RECORD:
                break
    best = sorted(ranked, key=lambda i: ranked[i], reverse=True)[:LLM_RELATED_MAX]
    return {item_id: related[item_id] for item_id in best}


def close_fresh(
    hits: list[list[tuple[str, float]]], close: dict[str, MemoryRecord], fresh_ids: list[str]
) -> list[str]:
    """The new records (in batch order) with at least one neighbour in ``close``."""
    return [
        record_id
        for record_id, row in zip(fresh_ids, hits, strict=True)
        if any(item_id in close and score >= LLM_RELATED_MIN_SIMILARITY for item_id, score in row)
    ]


def add_sources(target: MemoryRecord, sources: Sequence[SourceRef]) -> None:
    """Add ``sources`` to ``target``'s, merging turns of a session it already cites."""
    by_session = {s.session_id: s for s in target.sources}
    for source in sources:
        mine = by_session.get(source.session_id)
        if mine is None:
            if len(target.sources) < MAX_SOURCES:
                fresh = SourceRef(source.session_id, list(source.turn_ids), list(source.turn_refs))
                target.sources.append(fresh)
                by_session[source.session_id] = fresh
            continue
        mine.turn_ids = sorted(set(mine.turn_ids) | set(source.turn_ids))
        mine.turn_refs = sorted(set(mine.turn_refs) | set(source.turn_refs))


def merge_into(target: MemoryRecord, incoming: MemoryRecord, now: str) -> None:
    """Merge ``incoming``'s sources, earlier creation time, confidence and role into ``target``."""
    add_sources(target, incoming.sources)
    target.created_at = min(target.created_at, incoming.created_at)
    target.updated_at = now
    target.confidence = max(target.confidence, incoming.confidence)
    if target.source_role != incoming.source_role:
        target.source_role = "both"


def union_labels(groups: Any) -> list[str]:
    """The distinct values of ``groups`` (case-insensitive, first spelling kept), at most 30."""
    seen: dict[str, str] = {}
    for group in groups:
        for value in group:
            seen.setdefault(value.casefold(), value)
    return list(seen.values())[:30]


def span(temporals: Sequence[Temporal]) -> Temporal:
    """The temporal span covering every point of ``temporals`` (empty when none has one)."""
    points = sorted(
        p for t in temporals for p in (t.t_valid_from or t.t_ref, t.t_valid_to or t.t_ref) if p
    )
    if not points:
        return Temporal()
    return Temporal(t_ref=points[0], t_valid_from=points[0], t_valid_to=points[-1])
