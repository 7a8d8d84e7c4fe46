"""Recall: the channels that gather candidates of one search, and their loading.

Channels (full text, vectors, tags, temporal window, type bias, parents) add item ids to a
:class:`RecallPool`; :meth:`Recall.candidates` loads them, expands the memory tree and
attaches vectors. Skills are recalled by vector on their own. Every query filters by the
caller's ``user_id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lycheemem.domain.models import (
    ActionState,
    CompositeRecord,
    MemoryRecord,
    SearchPlan,
    Skill,
)
from lycheemem.domain.ports import Embedder, SemanticStore, VectorIndex
from lycheemem.domain.text.cues import has_procedural_cue
from lycheemem.domain.text.terms import (
    COMMON_TERM_DOCS,
    COMMON_TERM_SHARE,
    kept_fts_groups,
    query_terms,
)
from lycheemem.retrieval.candidates import Candidate
from lycheemem.retrieval.selection import (
    plan_hint_terms,
    should_expand_children,
)

__all__ = ["ACTION_SKILL_REUSE_THRESHOLD", "Recall", "RecallPool", "TermShares"]

ACTION_BIAS = ("procedure", "constraint", "usage_pattern", "composite_constraint")
SLOT_BIAS = ("procedure", "tool_affordance")
# Action-mode searches flag a skill reusable from this similarity, below the configured
# LYCHEEMEM_SKILL_REUSE_THRESHOLD: an agent about to act gains more from a near-fit procedure.
ACTION_SKILL_REUSE_THRESHOLD = 0.80


@dataclass(slots=True, frozen=True)
class TermShares:
    """Query terms' document shares in the caller's memory and the share that is common."""

    shares: dict[str, float] = field(default_factory=dict)
    max_share: float = COMMON_TERM_SHARE
    total: int = 0

    def __call__(self, term: str) -> float:
        return self.shares.get(term, 0.0)

    def crowded(self, text: str) -> bool:
        """Whether the terms full-text search keeps for ``text`` match over ``COMMON_TERM_DOCS``.

        Counted as the sum of the kept terms' document counts (an upper bound of the OR's
        matches). BM25 would score every one of them (10-20 ms at 10k-100k records), so
        such a query is answered by its AND first and topped up with the newest matches.
        Memories under ``COMMON_TERM_DOCS`` records never get here.
        """
        kept = kept_fts_groups(text, self, self.max_share)
        return sum(self(g) for g in kept) * self.total > COMMON_TERM_DOCS


class RecallPool:
    """Recalled candidates keyed by id, accumulating channels."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}
        self.channels: dict[str, set[str]] = {}
        self.ranks: dict[str, int] = {}
        self.tags: dict[str, set[str]] = {}

    def add(
        self,
        item_id: str,
        kind: str,
        channel: str,
        rank: int | None = None,
        tags: set[str] | None = None,
    ) -> None:
        """Record that ``channel`` found ``item_id`` (best rank and matched tags kept)."""
        self.kinds.setdefault(item_id, kind)
        self.channels.setdefault(item_id, set()).add(channel)
        if rank is not None:
            self.ranks[item_id] = min(rank, self.ranks.get(item_id, rank))
        if tags:
            self.tags.setdefault(item_id, set()).update(tags)

    def ids(self, kind: str) -> list[str]:
        """Ids of the pooled items of ``kind`` (``record`` or ``composite``)."""
        return [i for i, k in self.kinds.items() if k == kind]

    def drop(self, item_ids: set[str]) -> None:
        """Forget ``item_ids`` (already known to the caller)."""
        for item_id in item_ids:
            self.kinds.pop(item_id, None)


class Recall:
    """The recall channels over one app's semantic store and vector index."""

    def __init__(self, *, store: SemanticStore, vectors: VectorIndex, embedder: Embedder) -> None:
        self._store = store
        self._vectors = vectors
        self._embedder = embedder

    async def pool(
        self,
        user_id: str,
        plan: SearchPlan,
        sem: np.ndarray,
        prag: np.ndarray,
        top_k: int,
        df: TermShares,
        *,
        recall_min: int,
    ) -> RecallPool:
        """Every channel's hits for ``plan``, plus the composites covering recalled records."""
        limit = max(3 * top_k, recall_min)
        pool = RecallPool()
        tasks = [
            self._fts(user_id, plan, limit, pool, df),
            self._vector(user_id, sem, prag, limit, pool),
            self._tags(user_id, plan, limit, pool),
            self._temporal(user_id, plan, limit, pool),
            self._biased(user_id, plan, limit, pool, df),
        ]
        await asyncio.gather(*tasks)
        covering = await self._store.covering(user_id, pool.ids("record"))
        # In recall order, so the same query always keeps the same parents.
        parents = dict.fromkeys(c for clist in covering.values() for c in clist)
        for composite_id in list(parents)[: max(1, limit // 3)]:
            pool.add(composite_id, "composite", "parent")
        return pool

    async def _fts(
        self, user_id: str, plan: SearchPlan, limit: int, pool: RecallPool, df: TermShares
    ) -> None:
        searches = [
            (
                kind,
                self._store.fts(
                    user_id,
                    text,
                    table=table,
                    limit=cap,
                    df=df,
                    max_share=df.max_share,
                    crowded=df.crowded(text),
                ),
            )
            for text in plan.semantic_queries
            for table, kind, cap in (
                ("memory_records", "record", limit),
                ("composite_records", "composite", max(1, limit // 3)),
            )
        ]
        results = await asyncio.gather(*(search for _, search in searches))
        for (kind, _), hits in zip(searches, results, strict=True):
            for hit in hits:
                pool.add(hit.item_id, kind, "fts", rank=hit.rank)

    async def _vector(
        self, user_id: str, sem: np.ndarray, prag: np.ndarray, limit: int, pool: RecallPool
    ) -> None:
        searches: list[tuple[str, str, Awaitable[list[list[tuple[str, float]]]]]] = []
        if len(sem):
            for table, kind, cap in (
                ("memory_records", "record", limit),
                ("composite_records", "composite", max(1, limit // 3)),
            ):
                searches.append((kind, "vector", self._vectors.search(table, user_id, sem, k=cap)))
        if len(prag):
            search = self._vectors.search(
                "memory_records", user_id, prag, column="normalized_vector", k=limit
            )
            searches.append(("record", "normalized_vector", search))
        # Queued together on the index thread: one wake-up instead of one per search.
        results = await asyncio.gather(*(search for _, _, search in searches))
        for (kind, channel, _), rows in zip(searches, results, strict=True):
            for row in rows:
                for item_id, _ in row:
                    pool.add(item_id, kind, channel)

    async def _tags(self, user_id: str, plan: SearchPlan, limit: int, pool: RecallPool) -> None:
        wanted: dict[str, Sequence[str]] = {
            "tool": plan.tool_hints,
            "constraint": plan.required_constraints,
            "affordance": plan.required_affordances,
        }
        for item_id, kind, tags in await self._store.tags(user_id, wanted, limit):
            pool.add(item_id, kind, "tag", tags=tags)

    async def _temporal(self, user_id: str, plan: SearchPlan, limit: int, pool: RecallPool) -> None:
        window = plan.temporal_filter
        if not window or not window.get("since") or not window.get("until"):
            return
        for item_id, kind in await self._store.temporal(
            user_id, window["since"], window["until"], limit
        ):
            pool.add(item_id, kind, "temporal")

    async def _biased(
        self, user_id: str, plan: SearchPlan, limit: int, pool: RecallPool, df: TermShares
    ) -> None:
        half = max(1, limit // 2)
        if plan.missing_slots:
            text = " ".join(plan.missing_slots)
            for hit in await self._store.fts(user_id, text, table="memory_records", limit=half):
                pool.add(hit.item_id, "record", "slot", rank=hit.rank)
        types: tuple[str, ...] = ()
        if plan.mode in ("action", "mixed"):
            types += ACTION_BIAS
        if plan.missing_slots:
            types += SLOT_BIAS
        if not types:
            return
        query = " ".join([*plan.semantic_queries, *plan.pragmatic_queries])
        for hit in await self._store.fts(
            user_id,
            query,
            table="memory_records",
            limit=half,
            memory_types=sorted(set(types)),
            df=df,
            max_share=df.max_share,
            crowded=df.crowded(query),
        ):
            pool.add(hit.item_id, "record", "type_bias", rank=hit.rank)

    async def candidates(
        self, user_id: str, pool: RecallPool, plan: SearchPlan, query: str, top_k: int
    ) -> list[Candidate]:
        """The pool's live items, tree-expanded per the plan, as scored candidates."""
        (records, columns), (composites, composite_columns) = await asyncio.gather(
            self._store.records_with_fts(user_id, pool.ids("record")),
            self._store.composites_with_fts(user_id, pool.ids("composite")),
        )
        columns.update(composite_columns)
        await self._expand(user_id, plan, query, top_k, pool, records, composites, columns)
        items: dict[str, MemoryRecord | CompositeRecord] = {
            **{k: v for k, v in records.items() if not v.expired},
            **{k: v for k, v in composites.items() if not v.expired},
        }
        return await self.build_candidates(user_id, items, columns, pool)

    async def build_candidates(
        self,
        user_id: str,
        items: dict[str, MemoryRecord | CompositeRecord],
        columns: dict[str, tuple[str, str]],
        pool: RecallPool,
    ) -> list[Candidate]:
        """Candidates of loaded ``items`` with their vectors and what recall found of them."""
        record_ids = [i for i in items if isinstance(items[i], MemoryRecord)]
        composite_ids = [i for i in items if isinstance(items[i], CompositeRecord)]
        vectors = await self._all_vectors(user_id, record_ids, composite_ids)
        candidates = []
        for item_id, item in items.items():
            vec, norm = vectors.get(item_id, (None, None))
            fts_text, fts_tags = columns.get(item_id, ("", ""))
            leaf = (
                frozenset(item.source_record_ids)
                if isinstance(item, CompositeRecord)
                else frozenset()
            )
            desc = (
                leaf | frozenset(item.child_composite_ids)
                if isinstance(item, CompositeRecord)
                else frozenset()
            )
            candidates.append(
                Candidate.from_item(
                    item,
                    vector=vec,
                    normalized_vector=norm,
                    fts_text=fts_text,
                    fts_tags=fts_tags,
                    channels=set(pool.channels.get(item_id, set())),
                    bm25_rank=pool.ranks.get(item_id),
                    matched_tags=pool.tags.get(item_id, set()),
                    leaf_ids=leaf,
                    descendant_ids=desc,
                )
            )
        return candidates

    async def _expand(
        self,
        user_id: str,
        plan: SearchPlan,
        query: str,
        top_k: int,
        pool: RecallPool,
        records: dict[str, MemoryRecord],
        composites: dict[str, CompositeRecord],
        columns: dict[str, tuple[str, str]],
    ) -> None:
        budget = 3 * top_k
        mode = plan.tree_retrieval_mode
        added: list[tuple[str, str]] = []
        if mode in ("balanced", "root_only"):
            covering = await self._store.covering(user_id, list(records))
            for parents in covering.values():
                added.extend((p, "composite") for p in parents)
        if mode in ("balanced", "descend"):
            hints = plan_hint_terms(plan)
            terms = query_terms(query)
            for composite in list(composites.values()):
                if mode == "balanced" and not should_expand_children(
                    Candidate.from_item(composite), plan_hints=hints, query_terms=terms
                ):
                    continue
                added.extend((c, "composite") for c in composite.child_composite_ids)
                if plan.include_leaf_records:
                    added.extend((r, "record") for r in composite.source_record_ids)
        fresh = [(i, k) for i, k in dict.fromkeys(added) if i not in pool.kinds][:budget]
        for item_id, kind in fresh:
            pool.add(item_id, kind, "tree")
        (more_records, record_columns), (more_composites, composite_columns) = await asyncio.gather(
            self._store.records_with_fts(user_id, [i for i, k in fresh if k == "record"]),
            self._store.composites_with_fts(user_id, [i for i, k in fresh if k == "composite"]),
        )
        records.update(more_records)
        composites.update(more_composites)
        columns.update(record_columns)
        columns.update(composite_columns)

    async def _all_vectors(
        self, user_id: str, record_ids: list[str], composite_ids: list[str]
    ) -> dict[str, tuple[Any, Any]]:
        found: dict[str, tuple[Any, Any]] = {}
        for table, ids in (("memory_records", record_ids), ("composite_records", composite_ids)):
            if not ids:
                continue
            vec, norm = await asyncio.gather(
                self._vectors.get_vectors(table, user_id, ids, "vector"),
                self._vectors.get_vectors(table, user_id, ids, "normalized_vector"),
            )
            for item_id in ids:
                found[item_id] = (vec.get(item_id), norm.get(item_id))
        return found

    async def skills(
        self,
        user_id: str,
        plan: SearchPlan,
        query: str,
        state: ActionState,
        top_k: int,
        *,
        skill_top_k: int,
        reuse_threshold: float,
    ) -> list[dict[str, Any]]:
        """Skills near the query (or the plan's hypothetical skill), flagged ``reusable``."""
        if plan.mode == "answer" and not has_procedural_cue(query):
            return []
        k = {"action": skill_top_k, "mixed": max(1, top_k - 1)}.get(plan.mode, 1)
        text = " ".join(
            [query, state.tentative_action, *plan.tool_hints, *plan.required_constraints]
        ).strip()
        retrieval_mode = "direct"
        if plan.hypothetical_skill.strip():
            text, retrieval_mode = plan.hypothetical_skill.strip(), "hyde"
        vector = await self._embedder.embed([text], kind="query")
        hits = (await self._vectors.search("skills", user_id, vector, k=k))[0]
        if not hits:
            return []
        skills: dict[str, Skill] = await self._store.skills(user_id, [i for i, _ in hits])
        threshold = ACTION_SKILL_REUSE_THRESHOLD if plan.mode == "action" else reuse_threshold
        results = []
        for skill_id, score in hits:
            skill = skills.get(skill_id)
            if skill is None:
                continue
            cosine = max(0.0, min(1.0, float(score)))
            results.append(
                {
                    "id": skill_id,
                    "skill_id": skill_id,
                    "intent": skill.intent,
                    "doc_markdown": skill.doc_markdown,
                    "score": round(cosine, 4),
                    "metadata": skill.metadata,
                    "success_count": skill.success_count,
                    "conditions": skill.conditions,
                    "reusable": cosine >= threshold,
                    "retrieval_mode": retrieval_mode,
                }
            )
        return results
