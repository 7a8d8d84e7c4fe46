"""The fusion stage of a batch: corrections of stored records, then composites.

Composites come from the LLM when one is configured, else from the heuristic clustering.
"""

from __future__ import annotations

import numpy as np

from lycheemem.consolidation.batching import Batch
from lycheemem.consolidation.conflict import claim_target, conflict_update, similar_target
from lycheemem.consolidation.encode.llm import llm_fuse
from lycheemem.consolidation.fusion import heuristic as fusion
from lycheemem.consolidation.merging import close_fresh, closest, merge, span, union_labels
from lycheemem.consolidation.report import ConsolidationSettings, JobReport
from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    union_sources,
)
from lycheemem.domain.ports import LLM, SemanticStore, VectorIndex
from lycheemem.domain.text.terms import canon, composite_id_for

__all__ = ["FusionStage"]

CLAIM_NEIGHBOURS = 12
SUBSUME_JACCARD = 0.7


class FusionStage:
    """Resolves conflicts and builds composites for one batch's fresh records."""

    def __init__(
        self,
        *,
        store: SemanticStore,
        vectors: VectorIndex,
        llm: LLM | None,
        settings: ConsolidationSettings,
    ) -> None:
        self._store = store
        self._vectors = vectors
        self._llm = llm
        self.settings = settings

    async def fuse(self, batch: Batch, report: JobReport) -> None:
        """Resolve conflicts of the batch's fresh records, then build composites from them."""
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
                close = closest(hits, related, fresh_ids)
                judged = close_fresh(hits, close, fresh_ids)
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
        self, batch: Batch, fresh_ids: list[str]
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
        batch: Batch,
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
            target = claim_target(batch, record, earlier, claim_neighbours.get(record_id))
            if target is None and not claims_only:
                target = similar_target(batch, record, hits[position], related)
            if target is not None:
                conflict_update(batch, target, record, "newer statement wins")
                report.records_updated += 1
                report.records_expired += 1
                continue
            earlier.append(record_id)

    async def _cluster(
        self,
        batch: Batch,
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
        self, batch: Batch, members: list[MemoryRecord]
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
            entities=union_labels(m.entities for m in members),
            temporal=span([m.temporal for m in members]),
            task_tags=union_labels(m.task_tags for m in members),
            tool_tags=union_labels(m.tool_tags for m in members),
            constraint_tags=union_labels(m.constraint_tags for m in members),
            failure_tags=union_labels(m.failure_tags for m in members),
            affordance_tags=union_labels(m.affordance_tags for m in members),
            confidence=max(m.confidence for m in members),
            sources=union_sources(m.sources for m in members),
        )

    async def _llm_fuse(
        self,
        batch: Batch,
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
                merge(batch, target, record, report)
                report.records_added -= 1
            elif item.action == "conflict_update":
                conflict_update(
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
