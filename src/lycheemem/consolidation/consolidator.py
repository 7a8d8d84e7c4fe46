"""The consolidator: turns every new turn of a session into records, composites and skills.

One job consumes all turns after the session's watermark in batches. Per
batch: related memories → extraction (LLM or heuristics) → secret filter →
tenant-scoped ids → de-duplication → fusion/conflict → skills → one SQLite
commit (records, expiries, composites, skills, watermark) → vectors.

The stages it runs live beside it: ``batching`` (cutting turns, a batch's state),
``merging`` (duplicates into stored records), ``conflict`` and ``fusion_stage``
(corrections and composites), ``report`` (the job's result and settings).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from lycheemem.clock import Clock
from lycheemem.consolidation.batching import Batch, cut_batches, is_memory_echo, new_record
from lycheemem.consolidation.encode.heuristic import encode_turns
from lycheemem.consolidation.encode.llm import known_memories, llm_extract
from lycheemem.consolidation.fusion_stage import FusionStage
from lycheemem.consolidation.merging import merge, merge_into
from lycheemem.consolidation.report import ConsolidationSettings, JobReport, is_transient
from lycheemem.domain.models import (
    BatchCommit,
    ExtractedRecord,
    ExtractedSkill,
    Job,
    MemoryRecord,
    Skill,
    Turn,
    VectorRow,
)
from lycheemem.domain.ports import LLM, Embedder, SemanticStore, SessionStore, VectorIndex
from lycheemem.domain.text.redact import contains_secret
from lycheemem.errors import SessionGone

__all__ = ["ConsolidationSettings", "Consolidator", "JobReport", "cut_batches"]

log = logging.getLogger(__name__)
DEDUP_NEIGHBOURS = 5
RELATED_RECORDS = 8
# A new skill this close (cosine) to a stored one updates it instead of adding a twin.
SKILL_DEDUP_SIMILARITY = 0.85


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
        self._fusion = FusionStage(store=store, vectors=vectors, llm=llm, settings=settings)

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
            batch = Batch(
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
        self, job: Job, batch: Batch, report: JobReport, label: str, user_name: str | None
    ) -> None:
        """Consolidate ``batch`` one turn at a time, skipping the turns that fail for good."""
        for turn in batch.turns:
            single = Batch(
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
        self, batch: Batch, report: JobReport, label: str, user_name: str | None, *, force: bool
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
            await self._fusion.fuse(batch, report)
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
    async def _related(self, batch: Batch) -> None:
        text = "\n".join(turn.content for turn in batch.turns)
        query = await self._embedder.embed([text[:4000]], kind="query")
        hits = await self._vectors.search("memory_records", batch.user_id, query, k=RELATED_RECORDS)
        batch.related_ids = [item_id for item_id, _ in hits[0]] if hits else []

    async def _extract(
        self, batch: Batch, report: JobReport, user_name: str | None
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

    async def _dedup(
        self, batch: Batch, extracted: list[ExtractedRecord], report: JobReport
    ) -> None:
        candidates: dict[str, MemoryRecord] = {}
        for item in extracted:
            if contains_secret(item.semantic_text) or contains_secret(item.normalized_text):
                continue
            record = new_record(batch, item)
            if record.record_id in candidates:
                merge_into(candidates[record.record_id], record, batch.now)
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
                merge(batch, target, record, report)
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
                merge(batch, target, record, report)
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
        batch: Batch,
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

    async def _skills(
        self, batch: Batch, extracted: list[ExtractedSkill], report: JobReport
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

    async def _index(self, batch: Batch, expired_composites: list[str]) -> None:
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
