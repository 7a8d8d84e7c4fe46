"""The consolidator: turns every new turn of a session into records, composites and skills.

One job consumes all turns after the session's watermark in batches. Per
batch: related memories → extraction (LLM or heuristics) → secret filter →
tenant-scoped ids → de-duplication → fusion/conflict → skills → one SQLite
commit (records, expiries, composites, skills, watermark) → vectors.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lycheemem.clock import Clock
from lycheemem.consolidation.encode.heuristic import encode_turns
from lycheemem.consolidation.encode.llm import known_memories, llm_extract, llm_fuse
from lycheemem.consolidation.fusion import heuristic as fusion
from lycheemem.domain.models import (
    MAX_SOURCES,
    BatchCommit,
    CompositeRecord,
    ExtractedRecord,
    ExtractedSkill,
    Job,
    MemoryRecord,
    Skill,
    SourceRef,
    Temporal,
    Turn,
    VectorRow,
    union_sources,
)
from lycheemem.domain.ports import LLM, Embedder, SemanticStore, SessionStore, VectorIndex
from lycheemem.domain.prompts import MEMORY_ONLY_HEADER
from lycheemem.domain.text.redact import contains_secret
from lycheemem.domain.text.terms import canon, composite_id_for, record_id_for
from lycheemem.errors import LLMError, SessionGone, StorageError

__all__ = ["ConsolidationSettings", "Consolidator", "cut_batches"]

log = logging.getLogger(__name__)
DEDUP_NEIGHBOURS = 5
RELATED_RECORDS = 8
CONFLICT_SIMILARITY = 0.85
# An update cue ("now", "moved to", "no longer" ...) makes a correction likely, so a less
# similar neighbour still counts (MEMORY.md §12.5).
CUE_CONFLICT_SIMILARITY = 0.75
CLAIM_NEIGHBOURS = 12
# A new skill this close (cosine) to a stored one updates it instead of adding a twin.
SKILL_DEDUP_SIMILARITY = 0.85
LEVEL_UP_SIMILARITY = 0.75
SUBSUME_JACCARD = 0.7
DEFAULT_CONFIDENCE = {"user": 0.9, "both": 0.8, "assistant": 0.6}
LLM_RELATED_PER_RECORD = 3
LLM_RELATED_MAX = 16
LLM_RELATED_MIN_SIMILARITY = 0.8


@dataclass(slots=True, frozen=True)
class ConsolidationSettings:
    """The consolidation knobs of INTEGRATIONS.md §2."""

    batch_turns: int = 24
    batch_chars: int = 12_000
    context_turns: int = 4
    dedup_threshold: float = 0.92
    fusion_similarity: float = 0.75
    fusion_max_group: int = 8
    max_levels: int = 3
    timezone: str = "UTC"
    extra_tools: tuple[str, ...] = ()


@dataclass
class JobReport:
    """The ConsolidationResult of API.md §2.6, accumulated across batches."""

    job_id: str
    session_id: str
    records_added: int = 0
    records_merged: int = 0
    records_updated: int = 0
    records_expired: int = 0
    composites_created: int = 0
    composites_expired: int = 0
    skills_added: int = 0
    turns_consolidated: int = 0
    watermark: int = 0
    has_novelty: bool | None = None
    llm_calls: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    skipped_turns: list[dict[str, Any]] = field(default_factory=list)

    def as_result(self, status: str, **extra: Any) -> dict[str, Any]:
        """The API shape of this report with ``status``."""
        result = {
            "status": status,
            "job_id": self.job_id,
            "session_id": self.session_id,
            "entities_added": self.records_added,
            "facts_added": self.composites_created,
            "skills_added": self.skills_added,
            "records_added": self.records_added,
            "records_merged": self.records_merged,
            "records_updated": self.records_updated,
            "records_expired": self.records_expired,
            "composites_created": self.composites_created,
            "composites_expired": self.composites_expired,
            "turns_consolidated": self.turns_consolidated,
            "watermark": self.watermark,
            "has_novelty": self.has_novelty,
            "skipped_reason": None,
            "steps": self.steps,
            "llm_calls": self.llm_calls,
            "skipped_turns": self.skipped_turns,
            "error": None,
        }
        result.update(extra)
        return result


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


def is_transient(exc: BaseException) -> bool:
    """Failures that another attempt may not meet: provider, storage and I/O trouble.

    Anything else (a date no calendar holds, a value the code cannot handle) fails the
    same way every time, so on a job's last attempt the offending turn is skipped.
    """
    return isinstance(exc, LLMError | StorageError | sqlite3.Error | OSError | TimeoutError)


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


def _stated_at(turns: Sequence[Turn], now: str) -> str:
    """When a record was said: its latest source turn's time, never later than ``now``.

    Why not the consolidation time: imported or back-dated conversations (a client's
    ``created_at``) must place their memories at the time they were said, or temporal
    questions ("what did she do in May 2022?") cannot find facts that carry no date of their
    own. Both strings are in the canonical ISO format, so they compare as text.
    """
    latest = max((turn.created_at for turn in turns), default=now)
    return min(latest, now)


@dataclass
class _Batch:
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


class Consolidator:
    """Runs consolidation jobs; stateless between jobs."""

    def __init__(
        self,
        *,
        store: SemanticStore,
        sessions: SessionStore,
        vectors: VectorIndex,
        embedder: Embedder,
        llm: LLM | None,
        settings: ConsolidationSettings,
        clock: Clock,
        user_names: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._vectors = vectors
        self._embedder = embedder
        self._llm = llm
        self.settings = settings
        self._clock = clock
        self._user_names = user_names

    async def run(
        self, job: Job, *, cancelled: Callable[[], Awaitable[bool]], report: JobReport
    ) -> dict[str, Any]:
        """Consume every turn after the watermark; returns the ConsolidationResult."""
        started = time.perf_counter()
        session = await self._sessions.get(job.user_id, job.session_id)
        if session is None:
            return report.as_result("skipped", skipped_reason="session_deleted")
        report.watermark = session.consolidated_until
        turns = await self._sessions.turns(
            job.user_id, job.session_id, offset=session.consolidated_until
        )
        self._step(report, "load_turns", f"{len(turns)} turns", started)
        if not turns:
            return report.as_result("skipped", skipped_reason="no_new_turns")
        user_name = await self._user_names(job.user_id) if self._user_names else None
        batches = cut_batches(
            turns, max_turns=self.settings.batch_turns, max_chars=self.settings.batch_chars
        )
        earlier = await self._context_turns(job, session.consolidated_until)
        for number, batch_turns in enumerate(batches, start=1):
            if await cancelled():
                return report.as_result("failed", error="cancelled")
            batch = _Batch(
                job.user_id,
                job.session_id,
                batch_turns,
                earlier,
                job.retrieved_context,
                self._clock.now_iso(),
            )
            label = f"batch {number}/{len(batches)}"
            try:
                await self._run_batch(batch, report, label, user_name, force=job.force)
            except SessionGone:
                raise
            except Exception as exc:
                if job.attempts < job.max_attempts or is_transient(exc):
                    raise
                # Last attempt: one bad turn must not block every later turn of the session.
                await self._isolate(job, batch, report, label, user_name)
            earlier = (earlier + batch_turns)[-self.settings.context_turns :]
            report.turns_consolidated += len(batch_turns)
            report.watermark = batch_turns[-1].turn_index + 1
        novel = report.has_novelty is not False
        status = "done" if novel or job.force else "skipped"
        return report.as_result(status, skipped_reason=None if novel else "no_novelty")

    async def _isolate(
        self, job: Job, batch: _Batch, report: JobReport, label: str, user_name: str | None
    ) -> None:
        """Consolidate ``batch`` one turn at a time, skipping the turns that fail for good."""
        for turn in batch.turns:
            single = _Batch(
                batch.user_id,
                batch.session_id,
                [turn],
                batch.context,
                batch.known,
                self._clock.now_iso(),
            )
            try:
                await self._run_batch(single, report, label, user_name, force=job.force)
            except SessionGone:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise
                error = f"{type(exc).__name__}: {exc}"
                log.warning("skipping turn %d of a session: %s", turn.turn_index, error)
                await self._store.skip_turn(
                    user_id=job.user_id,
                    session_id=job.session_id,
                    turn_index=turn.turn_index,
                    job_id=job.job_id,
                    error=error,
                    now=self._clock.now_iso(),
                )
                report.skipped_turns.append({"turn_index": turn.turn_index, "error": error})
                self._step(report, "skip", f"{label}: turn {turn.turn_index}", time.perf_counter())

    async def _context_turns(self, job: Job, watermark: int) -> list[Turn]:
        count = self.settings.context_turns
        if not count or watermark == 0:
            return []
        return await self._sessions.turns(
            job.user_id, job.session_id, offset=max(0, watermark - count), limit=count
        )

    def _step(
        self, report: JobReport, step: str, detail: str, started: float, status: str = "done"
    ) -> None:
        ms = round((time.perf_counter() - started) * 1000, 2)
        report.steps.append({"step": step, "status": status, "detail": detail, "ms": ms})

    async def _run_batch(
        self, batch: _Batch, report: JobReport, label: str, user_name: str | None, *, force: bool
    ) -> None:
        t = time.perf_counter()
        await self._related(batch)
        self._step(report, "related", f"{label}: {len(batch.related_ids)} known", t)
        t = time.perf_counter()
        extracted, skills, novel = await self._extract(batch, report, user_name)
        report.has_novelty = bool(report.has_novelty) or novel
        self._step(report, "extract", f"{label}: {len(extracted)} records", t)
        if novel or force:
            t = time.perf_counter()
            await self._dedup(batch, extracted, report)
            self._step(report, "dedup", f"{label}: {len(batch.fresh)} new", t)
            t = time.perf_counter()
            await self._fuse(batch, report)
            self._step(report, "fusion", f"{label}: {len(batch.composites)} composites", t)
            t = time.perf_counter()
            await self._skills(batch, skills, report)
            self._step(report, "skills", f"{label}: {len(batch.skills)} skills", t)
        t = time.perf_counter()
        watermark = batch.turns[-1].turn_index + 1
        result = await self._store.commit_batch(
            BatchCommit(
                user_id=batch.user_id,
                session_id=batch.session_id,
                watermark=watermark,
                records=[*batch.touched.values()],
                composites=batch.composites,
                expire_covering=batch.expire_covering,
                skills=batch.skills,
                now=batch.now,
            )
        )
        if getattr(result, "session_missing", False):
            raise SessionGone(batch.session_id)
        report.composites_expired += len(result.composites_expired)
        self._step(report, "commit", f"{label}: watermark {watermark}", t)
        t = time.perf_counter()
        await self._index(batch, result.composites_expired)
        self._step(report, "index", label, t)

    # -- steps ------------------------------------------------------------------
    async def _related(self, batch: _Batch) -> None:
        text = "\n".join(turn.content for turn in batch.turns)
        query = await self._embedder.embed([text[:4000]], kind="query")
        hits = await self._vectors.search("memory_records", batch.user_id, query, k=RELATED_RECORDS)
        batch.related_ids = [item_id for item_id, _ in hits[0]] if hits else []

    async def _extract(
        self, batch: _Batch, report: JobReport, user_name: str | None
    ) -> tuple[list[ExtractedRecord], list[ExtractedSkill], bool]:
        turns = [turn for turn in batch.turns if not is_memory_echo(turn)]
        if not turns:
            return [], [], False
        if self._llm is not None:
            related = await self._store.records(batch.user_id, batch.related_ids)
            known = known_memories(batch.known, [r.semantic_text for r in related.values()])
            result = await llm_extract(
                self._llm, turns, batch.context, known, self.settings.timezone
            )
            report.llm_calls += 1
            return result.records, result.skills, result.has_novelty
        # The turn before the batch is encoded too, so the batch's first turn knows whom it
        # answers; records from that read-only turn are dropped.
        lead = batch.context[-1:]
        records, skills = encode_turns(
            [*lead, *turns],
            user_display_name=user_name,
            timezone=self.settings.timezone,
            extra_tools=self.settings.extra_tools,
        )
        own = {turn.turn_index for turn in turns}
        records = [r for r in records if own.intersection(r.source_turn_indexes)]
        for record in records:
            record.source_turn_indexes = [i for i in record.source_turn_indexes if i in own]
        return records, skills, bool(records or skills)

    def _new_record(self, batch: _Batch, extracted: ExtractedRecord) -> MemoryRecord:
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
            created_at=_stated_at([by_index[i] for i in indexes], batch.now),
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

    async def _dedup(
        self, batch: _Batch, extracted: list[ExtractedRecord], report: JobReport
    ) -> None:
        candidates: dict[str, MemoryRecord] = {}
        for item in extracted:
            if contains_secret(item.semantic_text) or contains_secret(item.normalized_text):
                continue
            record = self._new_record(batch, item)
            if record.record_id in candidates:
                _merge_into(candidates[record.record_id], record, batch.now)
            else:
                candidates[record.record_id] = record
        existing = await self._store.records(batch.user_id, list(candidates))
        remaining: list[MemoryRecord] = []
        for record_id, record in candidates.items():
            target = existing.get(record_id)
            if target is not None and target.expired and target.superseded_by:
                superseding = await self._store.records(batch.user_id, [target.superseded_by])
                target = superseding.get(target.superseded_by, target)
            if target is not None:
                self._merge(batch, target, record, report)
            else:
                remaining.append(record)
        if not remaining:
            return
        texts = [r.semantic_text for r in remaining] + [r.normalized_text for r in remaining]
        matrix = await self._embedder.embed(texts, kind="document")
        count = len(remaining)
        semantic, normalized = matrix[:count], matrix[count:]
        hits = await self._vectors.search(
            "memory_records",
            batch.user_id,
            normalized,
            column="normalized_vector",
            k=DEDUP_NEIGHBOURS * 3,
        )
        neighbour_ids = {item_id for row in hits for item_id, _ in row}
        neighbours = await self._store.records(batch.user_id, list(neighbour_ids))
        for position, record in enumerate(remaining):
            target = self._near_duplicate(record, hits[position], neighbours, batch)
            if target is not None:
                self._merge(batch, target, record, report)
                continue
            batch.fresh[record.record_id] = record
            batch.touched[record.record_id] = record
            batch.vectors[record.record_id] = (semantic[position], normalized[position])
            report.records_added += 1

    def _near_duplicate(
        self,
        record: MemoryRecord,
        hits: list[tuple[str, float]],
        neighbours: dict[str, MemoryRecord],
        batch: _Batch,
    ) -> MemoryRecord | None:
        same_type = [
            (item_id, score)
            for item_id, score in hits
            if item_id in neighbours and neighbours[item_id].memory_type == record.memory_type
        ][:DEDUP_NEIGHBOURS]
        for item_id, score in same_type:
            if score >= self.settings.dedup_threshold:
                return batch.touched.get(item_id, neighbours[item_id])
        return None

    def _merge(
        self, batch: _Batch, target: MemoryRecord, incoming: MemoryRecord, report: JobReport
    ) -> None:
        target = batch.touched.get(target.record_id, target)
        _merge_into(target, incoming, batch.now)
        batch.touched[target.record_id] = target
        report.records_merged += 1

    async def _fuse(self, batch: _Batch, report: JobReport) -> None:
        if not batch.fresh:
            return
        fresh_ids = list(batch.fresh)
        queries = np.stack([batch.vectors[i][0] for i in fresh_ids])
        hits = await self._vectors.search("memory_records", batch.user_id, queries, k=6)
        fresh_set = set(fresh_ids)
        # In hit order (not set order), so clustering sees the same pool on every run.
        related_ids = list(
            dict.fromkeys(item_id for row in hits for item_id, _ in row if item_id not in fresh_set)
        )
        related = await self._store.records(batch.user_id, related_ids)
        related = {k: v for k, v in related.items() if not v.expired}
        if self._llm is not None:
            if related:
                close = _closest(hits, related, fresh_ids)
                judged = _close_fresh(hits, close, fresh_ids)
                if judged:
                    # Only a new record with a close neighbour can be a duplicate or a
                    # conflict; the others are added, and grouped by similarity as in any
                    # other batch.
                    await self._llm_fuse(batch, report, close, judged)
            else:
                judged = []
            # A correction the model left as "add" (or one inside this batch, which the
            # model never compares) still supersedes what it corrects.
            await self._resolve_conflicts(batch, report, hits, fresh_ids, related, claims_only=True)
            await self._cluster(batch, report, {}, skip=set(judged))
            return
        await self._resolve_conflicts(batch, report, hits, fresh_ids, related)
        await self._cluster(batch, report, related)

    async def _claim_neighbours(
        self, batch: _Batch, fresh_ids: list[str]
    ) -> dict[str, list[MemoryRecord]]:
        """Active stored records near each new record that states a claim (wider than the
        fusion neighbours: the record it corrects may read quite differently)."""
        claiming = [
            i
            for i in fresh_ids
            if i in batch.fresh
            and (
                fusion.claim_of(batch.fresh[i].semantic_text)
                or fusion.UPDATE_CUE.search(batch.fresh[i].semantic_text)
            )
        ]
        if not claiming:
            return {}
        queries = np.stack([batch.vectors[i][0] for i in claiming])
        hits = await self._vectors.search(
            "memory_records", batch.user_id, queries, k=CLAIM_NEIGHBOURS
        )
        ids = list(dict.fromkeys(item_id for row in hits for item_id, _ in row))
        found = await self._store.records(batch.user_id, ids)
        return {
            record_id: [
                found[item_id]
                for item_id, _ in row
                if item_id in found and not found[item_id].expired and item_id not in batch.fresh
            ]
            for record_id, row in zip(claiming, hits, strict=True)
        }

    async def _resolve_conflicts(
        self,
        batch: _Batch,
        report: JobReport,
        hits: list[list[tuple[str, float]]],
        fresh_ids: list[str],
        related: dict[str, MemoryRecord],
        *,
        claims_only: bool = False,
    ) -> None:
        """Newer statements supersede older ones about the same subject and attribute.

        New records are taken in turn order; each is compared with the records of earlier
        turns of this batch and with stored neighbours. A claim match (``fusion.supersedes``)
        always counts; without ``claims_only`` a near-identical statement that differs in a
        number, a date or a negation counts too (more readily after an update cue).
        """
        claim_neighbours = await self._claim_neighbours(batch, fresh_ids)
        earlier: list[str] = []
        for position, record_id in enumerate(fresh_ids):
            record = batch.fresh.get(record_id)
            if record is None or record.memory_type not in fusion.CONFLICT_TYPES:
                continue
            target = self._claim_target(batch, record, earlier, claim_neighbours.get(record_id))
            if target is None and not claims_only:
                target = self._similar_target(batch, record, hits[position], related)
            if target is not None:
                self._conflict_update(batch, target, record, "newer statement wins")
                report.records_updated += 1
                report.records_expired += 1
                continue
            earlier.append(record_id)

    def _claim_target(
        self,
        batch: _Batch,
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

    def _similar_target(
        self,
        batch: _Batch,
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

    def _conflict_update(
        self,
        batch: _Batch,
        target: MemoryRecord,
        incoming: MemoryRecord,
        reason: str,
        text: str | None = None,
        normalized: str | None = None,
    ) -> None:
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
        _add_sources(target, incoming.sources)
        target.updated_at = batch.now
        batch.touched[target.record_id] = target
        incoming.expired, incoming.expired_at = True, batch.now
        incoming.expired_reason, incoming.superseded_by = "conflict_merged", target.record_id
        batch.fresh.pop(incoming.record_id, None)
        batch.touched[incoming.record_id] = incoming
        batch.vectors.pop(target.record_id, None)
        batch.expire_covering.append(target.record_id)

    async def _cluster(
        self,
        batch: _Batch,
        report: JobReport,
        related: dict[str, MemoryRecord],
        skip: set[str] | None = None,
    ) -> None:
        """Similarity composites of the batch's new records (``skip``: ids left out)."""
        pool = {**related, **batch.fresh}
        pool = {k: v for k, v in pool.items() if not v.expired and k not in (skip or ())}
        if len(pool) < 2:
            return
        ids = list(pool)
        stored = await self._vectors.get_vectors(
            "memory_records", batch.user_id, [i for i in ids if i not in batch.vectors]
        )
        rows = [batch.vectors[i][0] if i in batch.vectors else stored.get(i) for i in ids]
        present = [(i, row) for i, row in zip(ids, rows, strict=True) if row is not None]
        ids = [i for i, _ in present]
        matrix = np.stack([row for _, row in present]) if present else np.zeros((0, 1))
        families = [fusion.type_family(pool[i].memory_type) for i in ids]
        clusters = fusion.cluster_by_similarity(
            matrix,
            threshold=self.settings.fusion_similarity,
            max_group=self.settings.fusion_max_group,
            families=families,
        )
        fresh = set(batch.fresh)
        for cluster in clusters:
            members = [pool[ids[n]] for n in cluster]
            if not any(m.record_id in fresh for m in members):
                continue
            composite = await self._record_composite(batch, members)
            if composite is not None:
                batch.composites.append((composite, [m.record_id for m in members]))
                report.composites_created += 1

    async def _record_composite(
        self, batch: _Batch, members: list[MemoryRecord]
    ) -> CompositeRecord | None:
        member_ids = sorted(m.record_id for m in members)
        leaves = frozenset(member_ids)
        covering = await self._store.covering(batch.user_id, member_ids)
        existing_ids = sorted({c for clist in covering.values() for c in clist})
        existing = await self._store.composites(batch.user_id, existing_ids)
        for other in existing.values():
            other_leaves = frozenset(other.source_record_ids)
            if leaves <= other_leaves or fusion.jaccard(leaves, other_leaves) >= SUBSUME_JACCARD:
                return None
        ordered = sorted(members, key=lambda m: (m.temporal.t_ref or "", m.created_at))
        text = fusion.composite_text([m.semantic_text for m in ordered])
        return CompositeRecord(
            composite_id=composite_id_for(batch.user_id, member_ids),
            user_id=batch.user_id,
            memory_type=fusion.composite_type_for([m.memory_type for m in members]),
            semantic_text=text,
            normalized_text=canon(text),
            created_at=batch.now,
            updated_at=batch.now,
            source_record_ids=member_ids,
            level=1,
            synthesis_reason="similar statements",
            entities=_union(m.entities for m in members),
            temporal=_span([m.temporal for m in members]),
            task_tags=_union(m.task_tags for m in members),
            tool_tags=_union(m.tool_tags for m in members),
            constraint_tags=_union(m.constraint_tags for m in members),
            failure_tags=_union(m.failure_tags for m in members),
            affordance_tags=_union(m.affordance_tags for m in members),
            confidence=max(m.confidence for m in members),
            sources=union_sources(m.sources for m in members),
        )

    async def _llm_fuse(
        self,
        batch: _Batch,
        report: JobReport,
        related: dict[str, MemoryRecord],
        judged: list[str],
    ) -> None:
        """One fusion call on the ``judged`` new records and their close neighbours."""
        assert self._llm is not None
        fresh = [batch.fresh[i] for i in judged]
        decision = await llm_fuse(self._llm, fresh, list(related.values()))
        report.llm_calls += 1
        if decision is None:
            return
        alias = {f"n{n}": rid for n, rid in enumerate(judged, start=1)}
        for item in decision.decisions:
            record_id = alias.get(item.new)
            record = batch.fresh.get(record_id or "")
            target = related.get(item.target_id or "")
            if record is None or target is None:
                continue
            if item.action == "duplicate":
                batch.fresh.pop(record.record_id, None)
                batch.touched.pop(record.record_id, None)
                self._merge(batch, target, record, report)
                report.records_added -= 1
            elif item.action == "conflict_update":
                self._conflict_update(
                    batch,
                    target,
                    record,
                    item.reason or "conflict",
                    item.updated_semantic_text,
                    item.updated_normalized_text,
                )
                report.records_updated += 1
                report.records_expired += 1
        pool = {**related, **batch.fresh}
        for group in decision.composites:
            members = [pool.get(alias.get(m, m)) for m in group.members]
            if len(members) < 2 or any(m is None or m.expired for m in members):
                continue
            composite = await self._record_composite(batch, members)  # type: ignore[arg-type]
            if composite is None:
                continue
            composite.memory_type = group.memory_type or composite.memory_type
            composite.semantic_text = group.semantic_text or composite.semantic_text
            composite.normalized_text = canon(group.normalized_text or composite.semantic_text)
            composite.synthesis_reason = group.reason or composite.synthesis_reason
            batch.composites.append((composite, [m.record_id for m in members]))  # type: ignore[union-attr]
            report.composites_created += 1

    async def _skills(
        self, batch: _Batch, extracted: list[ExtractedSkill], report: JobReport
    ) -> None:
        usable = [
            s
            for s in extracted
            if not contains_secret(s.intent) and not contains_secret(s.doc_markdown)
        ]
        if not usable:
            return
        vectors = await self._embedder.embed([s.intent for s in usable], kind="document")
        hits = await self._vectors.search("skills", batch.user_id, vectors, k=1)
        existing_ids = [row[0][0] for row in hits if row and row[0][1] >= SKILL_DEDUP_SIMILARITY]
        existing = await self._store.skills(batch.user_id, existing_ids)
        for position, candidate in enumerate(usable):
            row = hits[position] if position < len(hits) else []
            match = existing.get(row[0][0]) if row and row[0][1] >= SKILL_DEDUP_SIMILARITY else None
            indexes = candidate.source_turn_indexes or [batch.turns[0].turn_index]
            if match is not None:
                if len(candidate.doc_markdown) >= len(match.doc_markdown):
                    match.doc_markdown = candidate.doc_markdown
                    match.conditions = candidate.conditions or match.conditions
                match.updated_at = batch.now
                batch.skills.append(match)
            else:
                batch.skills.append(
                    Skill(
                        skill_id=uuid.uuid4().hex,
                        user_id=batch.user_id,
                        intent=candidate.intent,
                        doc_markdown=candidate.doc_markdown,
                        created_at=batch.now,
                        updated_at=batch.now,
                        conditions=candidate.conditions,
                        source_session_id=batch.session_id,
                        source_turn_ids=indexes,
                    )
                )
            report.skills_added += 1

    async def _index(self, batch: _Batch, expired_composites: list[str]) -> None:
        records = list(batch.touched.values())
        missing = [r for r in records if r.record_id not in batch.vectors]
        if missing:
            texts = [r.semantic_text for r in missing] + [r.normalized_text for r in missing]
            matrix = await self._embedder.embed(texts, kind="document")
            for n, record in enumerate(missing):
                batch.vectors[record.record_id] = (matrix[n], matrix[len(missing) + n])
        await self._vectors.upsert(
            "memory_records",
            [
                VectorRow(
                    r.record_id,
                    r.user_id,
                    *batch.vectors[r.record_id],
                    memory_type=r.memory_type,
                    expired=r.expired,
                )
                for r in records
            ],
        )
        composites = [c for c, _ in batch.composites]
        if composites:
            texts = [c.semantic_text for c in composites] + [c.normalized_text for c in composites]
            matrix = await self._embedder.embed(texts, kind="document")
            await self._vectors.upsert(
                "composite_records",
                [
                    VectorRow(
                        c.composite_id,
                        c.user_id,
                        matrix[n],
                        matrix[len(composites) + n],
                        memory_type=c.memory_type,
                        level=c.level,
                    )
                    for n, c in enumerate(composites)
                ],
            )
        if expired_composites:
            await self._vectors.set_expired("composite_records", batch.user_id, expired_composites)
        if batch.skills:
            matrix = await self._embedder.embed([s.intent for s in batch.skills])
            await self._vectors.upsert(
                "skills",
                [VectorRow(s.skill_id, s.user_id, matrix[n]) for n, s in enumerate(batch.skills)],
            )
        await self._store.mark_indexed(
            record_ids=[r.record_id for r in records],
            composite_ids=[c.composite_id for c in composites],
            skill_ids=[s.skill_id for s in batch.skills],
        )


def _closest(
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


def _close_fresh(
    hits: list[list[tuple[str, float]]], close: dict[str, MemoryRecord], fresh_ids: list[str]
) -> list[str]:
    """The new records (in batch order) with at least one neighbour in ``close``."""
    return [
        record_id
        for record_id, row in zip(fresh_ids, hits, strict=True)
        if any(item_id in close and score >= LLM_RELATED_MIN_SIMILARITY for item_id, score in row)
    ]


def _add_sources(target: MemoryRecord, sources: Sequence[SourceRef]) -> None:
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


def _merge_into(target: MemoryRecord, incoming: MemoryRecord, now: str) -> None:
    _add_sources(target, incoming.sources)
    target.created_at = min(target.created_at, incoming.created_at)
    target.updated_at = now
    target.confidence = max(target.confidence, incoming.confidence)
    if target.source_role != incoming.source_role:
        target.source_role = "both"


def _union(groups: Any) -> list[str]:
    seen: dict[str, str] = {}
    for group in groups:
        for value in group:
            seen.setdefault(value.casefold(), value)
    return list(seen.values())[:30]


def _span(temporals: Sequence[Temporal]) -> Temporal:
    points = sorted(
        p for t in temporals for p in (t.t_valid_from or t.t_ref, t.t_valid_to or t.t_ref) if p
    )
    if not points:
        return Temporal()
    return Temporal(t_ref=points[0], t_valid_from=points[0], t_valid_to=points[-1])
