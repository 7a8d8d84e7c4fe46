"""Semantic search: plan → multi-channel recall → tree expansion → score → select → render.

Every channel filters by the caller's ``user_id`` inside its query. Side
effects (usage log, counters) are queued to the writer, never awaited.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from lycheemem.clock import Clock
from lycheemem.domain.models import (
    ActionState,
    CompositeRecord,
    MemoryRecord,
    SearchPlan,
    Skill,
    Turn,
    UsageLog,
)
from lycheemem.domain.ports import Embedder, SemanticStore, SessionStore, VectorIndex
from lycheemem.domain.text.cues import has_procedural_cue
from lycheemem.domain.text.terms import (
    COMMON_TERM_DOCS,
    COMMON_TERM_SHARE,
    common_term_share,
    kept_fts_groups,
    query_terms,
)
from lycheemem.retrieval.candidates import Candidate
from lycheemem.retrieval.planner.heuristic import derive_action_state, heuristic_plan
from lycheemem.retrieval.reflection import Gaps, reflection_fit
from lycheemem.retrieval.rendering import (
    constructed_context,
    novelty_context,
    provenance_items,
    semantic_results,
)
from lycheemem.retrieval.scoring import ScoreWeights, score_candidates
from lycheemem.retrieval.selection import (
    plan_hint_terms,
    select_composite_first,
    should_expand_children,
)

__all__ = ["PlanRefiner", "Reflector", "SearchConfig", "SearchOutcome", "SemanticSearch"]

PlanRefiner = Callable[[str, SearchPlan, ActionState, str, datetime], Awaitable[SearchPlan]]
"""``(query, heuristic_plan, action_state, recent_context, reference) -> plan``."""


class Reflector(Protocol):
    """The reflection hook of a search (implemented by ``pipeline.reflection.LLMReflector``)."""

    rounds: int

    async def assess(
        self, query: str, plan: SearchPlan, provenance: list[dict[str, Any]]
    ) -> Gaps | None:
        """What the selected memories lack, or None when they are enough."""
        ...

    async def supplement(self, query: str, plan: SearchPlan, gaps: Gaps) -> SearchPlan | None:
        """A plan that searches for ``gaps``."""
        ...


ACTION_BIAS = ("procedure", "constraint", "usage_pattern", "composite_constraint")
SLOT_BIAS = ("procedure", "tool_affordance")
FAILURE_BIAS = ("failure_pattern", "constraint", "procedure")
FOLLOW_UP_SLOTS = 2
FOLLOW_UP_TURNS = 2
FOLLOW_UP_DECAY = 0.9
# Action-mode searches flag a skill reusable from this similarity, below the configured
# LYCHEEMEM_SKILL_REUSE_THRESHOLD: an agent about to act gains more from a near-fit procedure.
ACTION_SKILL_REUSE_THRESHOLD = 0.80


@dataclass(slots=True, frozen=True)
class SearchConfig:
    """Search knobs from settings."""

    recall_min: int = 30
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    composite_bonus: float = 0.02
    parent_margin: float = 0.05
    skill_top_k: int = 3
    skill_reuse_threshold: float = 0.85
    timezone: str = "UTC"
    extra_tools: tuple[str, ...] = ()


@dataclass
class SearchOutcome:
    """Everything a search produced, in API shapes where they exist."""

    query: str
    plan: SearchPlan
    action_state: ActionState
    selected: list[Candidate]
    provenance: list[dict[str, Any]]
    constructed_context: str
    novelty_context: str
    skills: list[dict[str, Any]]
    usage_log_id: str | None
    timing_ms: dict[str, float]
    recent_context: str = ""
    reflection: list[dict[str, Any]] = field(default_factory=list)

    @property
    def semantic_results(self) -> list[dict[str, Any]]:
        """The 0-or-1 SemanticResult wrapper list."""
        return semantic_results(self.provenance, self.constructed_context)

    @property
    def total(self) -> int:
        """Provenance items plus skills."""
        return len(self.provenance) + len(self.skills)


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


@dataclass(frozen=True, slots=True)
class _Scoring:
    """What scoring needs besides the plan: query terms, their weights, the reference time."""

    terms: list[str]
    term_weights: dict[str, float]
    reference: datetime

    def with_gap_terms(self, gap_terms: Iterable[str]) -> _Scoring:
        """Add reflection gap terms to the query terms, at half an average query term's weight.

        The gaps are now part of what the caller needs, but the query itself stays what
        matters most.
        """
        known = [self.term_weights.get(t, 1.0) for t in self.terms] or [1.0]
        gap_weight = 0.5 * sum(known) / len(known)
        fresh = [t for t in dict.fromkeys(gap_terms) if t not in self.terms]
        weights = {**self.term_weights, **{t: gap_weight for t in fresh}}
        return _Scoring([*self.terms, *fresh], weights, self.reference)


class _Pool:
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
        self.kinds.setdefault(item_id, kind)
        self.channels.setdefault(item_id, set()).add(channel)
        if rank is not None:
            self.ranks[item_id] = min(rank, self.ranks.get(item_id, rank))
        if tags:
            self.tags.setdefault(item_id, set()).update(tags)

    def ids(self, kind: str) -> list[str]:
        return [i for i, k in self.kinds.items() if k == kind]

    def drop(self, item_ids: set[str]) -> None:
        """Forget ``item_ids`` (already known to the caller)."""
        for item_id in item_ids:
            self.kinds.pop(item_id, None)


class SemanticSearch:
    """Runs searches over one app's semantic store and vector index."""

    def __init__(
        self,
        *,
        store: SemanticStore,
        sessions: SessionStore,
        vectors: VectorIndex,
        embedder: Embedder,
        config: SearchConfig,
        clock: Clock,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._vectors = vectors
        self._embedder = embedder
        self.config = config
        self._clock = clock

    async def search(
        self,
        *,
        user_id: str,
        query: str,
        top_k: int = 5,
        session_id: str | None = None,
        include_graph: bool = True,
        include_skills: bool = True,
        reference_time: datetime | None = None,
        log_usage: bool = True,
        token_budget: int = 0,
        planner: PlanRefiner | None = None,
        reflector: Reflector | None = None,
    ) -> SearchOutcome:
        """Search the caller's memory for ``query``.

        ``planner`` (the LLM planner) may replace the heuristic plan; a plan with a
        ``hypothetical_skill`` retrieves skills by that HyDE draft. ``reflector`` runs its
        reflection rounds on a non-empty candidate pool (see ``pipeline.reflection``).
        """
        started = time.perf_counter()
        reference = reference_time or self._clock.now()
        recent_turns, recent_context = await self._recent(user_id, session_id)
        state = derive_action_state(
            query, recent_turns, recent_context, token_budget, self.config.extra_tools
        )
        plan = heuristic_plan(
            query, state, top_k=top_k, reference=reference, timezone=self.config.timezone
        )
        if planner is not None:
            plan = await planner(query, plan, state, recent_context, reference)
        planned = time.perf_counter()
        selected: list[Candidate] = []
        reflection: list[dict[str, Any]] = []
        terms = query_terms(query)
        # Term statistics (SQLite) and query embedding (model thread) do not depend on each other.
        (sem_vecs, prag_vecs), (term_weights, df) = await asyncio.gather(
            self._embed_plan(plan),
            self._term_stats(user_id, terms) if include_graph else _no_term_stats(),
        )
        recalled = planned
        if include_graph:
            pool = await self._recall(user_id, plan, sem_vecs, prag_vecs, top_k, df)
            recalled = time.perf_counter()
            candidates = await self._candidates(user_id, pool, plan, query, top_k)
            scoring = _Scoring(terms, term_weights, reference)
            selected = self._score_and_select(
                candidates, plan, (sem_vecs, prag_vecs), scoring, top_k
            )
            if reflector is not None and candidates:
                candidates, selected, reflection = await self._reflect(
                    reflector,
                    user_id=user_id,
                    query=query,
                    plan=plan,
                    vectors=(sem_vecs, prag_vecs),
                    candidates=candidates,
                    selected=selected,
                    scoring=scoring,
                    top_k=top_k,
                    df=df,
                )
            selected = await self._with_follow_ups(
                user_id, selected, candidates, plan, (sem_vecs, prag_vecs), scoring, top_k
            )
        else:
            candidates = []
        scored = time.perf_counter()
        skills = await self._skills(user_id, plan, query, state, top_k) if include_skills else []
        provenance = provenance_items(selected)
        log_id = None
        if log_usage and (include_graph or include_skills):
            log_id = self._log(
                user_id, session_id, query, plan, state, candidates, selected, skills
            )
        done = time.perf_counter()
        timing = {
            "total": _ms(started, done),
            "plan": _ms(started, planned),
            "recall": _ms(planned, recalled),
            "score": _ms(recalled, scored),
        }
        return SearchOutcome(
            query=query,
            plan=plan,
            action_state=state,
            selected=selected,
            provenance=provenance,
            constructed_context=constructed_context(provenance),
            novelty_context=novelty_context(provenance),
            skills=skills,
            usage_log_id=log_id,
            timing_ms=timing,
            recent_context=recent_context,
            reflection=reflection,
        )

    def _score_and_select(
        self,
        candidates: list[Candidate],
        plan: SearchPlan,
        vectors: tuple[np.ndarray, np.ndarray],
        scoring: _Scoring,
        top_k: int,
        fits: dict[str, float] | None = None,
    ) -> list[Candidate]:
        self._score(candidates, plan, vectors, scoring, fits)
        return select_composite_first(
            candidates,
            top_k=top_k,
            tree_mode=plan.tree_retrieval_mode,
            composite_bonus=self.config.composite_bonus,
            parent_margin=self.config.parent_margin,
        )

    def _score(
        self,
        candidates: list[Candidate],
        plan: SearchPlan,
        vectors: tuple[np.ndarray, np.ndarray],
        scoring: _Scoring,
        fits: dict[str, float] | None = None,
    ) -> None:
        score_candidates(
            candidates,
            plan=plan,
            semantic_query_vectors=vectors[0],
            pragmatic_query_vectors=vectors[1],
            query_terms=scoring.terms,
            now=scoring.reference,
            weights=self.config.weights,
            reflection_fit=fits,
            term_weights=scoring.term_weights,
        )

    async def _with_follow_ups(
        self,
        user_id: str,
        selected: list[Candidate],
        candidates: list[Candidate],
        plan: SearchPlan,
        vectors: tuple[np.ndarray, np.ndarray],
        scoring: _Scoring,
        top_k: int,
    ) -> list[Candidate]:
        """Add what was said right after the best match, in place of the last selected items.

        In a conversation the turns after a statement often hold its details ("I finished my
        screenplay" - "What is it about?" - "A mix of drama and romance"), which share no
        words with a question about those details. Up to ``FOLLOW_UP_SLOTS`` records of the
        next ``FOLLOW_UP_TURNS`` turns of the best record's session join the selection (one
        slot per four of ``top_k``), scored at least ``FOLLOW_UP_DECAY`` of the best score.
        """
        slots = min(FOLLOW_UP_SLOTS, top_k // 4)
        if not slots or not selected:
            return selected
        anchor = selected[0]
        record = anchor.item
        # Only records carry the session and turns they were said in; composites have none.
        if not isinstance(record, MemoryRecord):
            return selected
        if not record.source_session_id or not record.source_turn_ids:
            return selected
        chosen = {c.item_id for c in selected}
        ids = await self._store.follow_ups(
            user_id,
            record.source_session_id,
            max(record.source_turn_ids),
            FOLLOW_UP_TURNS,
            slots + len(chosen),
        )
        fresh = [i for i in ids if i not in chosen][:slots]
        if not fresh:
            return selected
        known = {c.item_id: c for c in candidates}
        missing = [i for i in fresh if i not in known]
        if missing:
            records, columns = await self._store.records_with_fts(user_id, missing)
            loaded = await self._build_candidates(
                user_id, {k: v for k, v in records.items() if not v.expired}, columns, _Pool()
            )
            self._score(loaded, plan, vectors, scoring)
            known.update({c.item_id: c for c in loaded})
        follow = [known[i] for i in fresh if i in known]
        for candidate in follow:
            candidate.channels.add("follow_up")
            candidate.score = max(candidate.score, anchor.score * FOLLOW_UP_DECAY)
        kept = selected[: top_k - len(follow)]  # slots <= top_k // 4 leave at least 3
        return sorted([*kept, *follow], key=lambda c: c.score, reverse=True)

    async def _reflect(
        self,
        reflector: Reflector,
        *,
        user_id: str,
        query: str,
        plan: SearchPlan,
        vectors: tuple[np.ndarray, np.ndarray],
        candidates: list[Candidate],
        selected: list[Candidate],
        scoring: _Scoring,
        top_k: int,
        df: TermShares,
    ) -> tuple[list[Candidate], list[Candidate], list[dict[str, Any]]]:
        """Reflection rounds: recall what the model finds missing, score everything again."""
        rounds: list[dict[str, Any]] = []
        sem_all, prag_all = vectors
        for _ in range(reflector.rounds):
            gaps = await reflector.assess(query, plan, provenance_items(selected))
            if gaps is None:
                rounds.append({"enough": True})
                break
            extra = await reflector.supplement(query, plan, gaps)
            if extra is None:
                rounds.append({"enough": False, "gaps": gaps.as_dict(), "added": 0})
                break
            sem, prag = await self._embed_plan(extra)
            pool = await self._recall(user_id, extra, sem, prag, top_k, df)
            known = {c.item_id for c in candidates}
            pool.drop(known)
            added = [
                c
                for c in await self._candidates(user_id, pool, extra, query, top_k)
                if c.item_id not in known
            ]
            for candidate in added:
                candidate.channels.add("reflection")
            candidates = [*candidates, *added]
            sem_all = np.vstack([sem_all, sem]) if len(sem) else sem_all
            prag_all = np.vstack([prag_all, prag]) if len(prag) else prag_all
            fits = {c.item_id: reflection_fit(c, gaps) for c in candidates}
            scoring = scoring.with_gap_terms(
                t for text in [*extra.semantic_queries, *gaps.phrases()] for t in query_terms(text)
            )
            selected = self._score_and_select(
                candidates, extra, (sem_all, prag_all), scoring, top_k, fits
            )
            rounds.append({"enough": False, "gaps": gaps.as_dict(), "added": len(added)})
        return candidates, selected, rounds

    async def _term_stats(
        self, user_id: str, terms: list[str]
    ) -> tuple[dict[str, float], TermShares]:
        """Per query term: BM25-style IDF in the caller's memory, and its document share."""
        if not terms:
            return {}, TermShares()
        total, freqs = await self._store.term_stats(user_id, terms[:12])
        weights = {t: math.log(1 + (total - df + 0.5) / (df + 0.5)) for t, df in freqs.items()}
        shares = {t: df / total for t, df in freqs.items()} if total else {}
        return weights, TermShares(shares, common_term_share(total), total)

    async def _recent(self, user_id: str, session_id: str | None) -> tuple[list[Turn], str]:
        if not session_id:
            return [], ""
        session, summary, turns = await self._sessions.working_set(user_id, session_id)
        if session is None:
            return [], ""
        recent = turns[-6:]
        lines = [summary.content] if summary else []
        lines += [f"{t.role}: {t.content}" for t in recent]
        return recent, "\n".join(lines)[-2000:]

    async def _embed_plan(self, plan: SearchPlan) -> tuple[np.ndarray, np.ndarray]:
        texts = [*plan.semantic_queries, *plan.pragmatic_queries]
        matrix = await self._embedder.embed(texts, kind="query")
        count = len(plan.semantic_queries)
        return matrix[:count], matrix[count:]

    async def _recall(
        self,
        user_id: str,
        plan: SearchPlan,
        sem: np.ndarray,
        prag: np.ndarray,
        top_k: int,
        df: TermShares,
    ) -> _Pool:
        limit = max(3 * top_k, self.config.recall_min)
        pool = _Pool()
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
        self, user_id: str, plan: SearchPlan, limit: int, pool: _Pool, df: TermShares
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
        self, user_id: str, sem: np.ndarray, prag: np.ndarray, limit: int, pool: _Pool
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

    async def _tags(self, user_id: str, plan: SearchPlan, limit: int, pool: _Pool) -> None:
        wanted: dict[str, Sequence[str]] = {
            "tool": plan.tool_hints,
            "constraint": plan.required_constraints,
            "affordance": plan.required_affordances,
        }
        for item_id, kind, tags in await self._store.tags(user_id, wanted, limit):
            pool.add(item_id, kind, "tag", tags=tags)

    async def _temporal(self, user_id: str, plan: SearchPlan, limit: int, pool: _Pool) -> None:
        window = plan.temporal_filter
        if not window or not window.get("since") or not window.get("until"):
            return
        for item_id, kind in await self._store.temporal(
            user_id, window["since"], window["until"], limit
        ):
            pool.add(item_id, kind, "temporal")

    async def _biased(
        self, user_id: str, plan: SearchPlan, limit: int, pool: _Pool, df: TermShares
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

    async def _candidates(
        self, user_id: str, pool: _Pool, plan: SearchPlan, query: str, top_k: int
    ) -> list[Candidate]:
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
        return await self._build_candidates(user_id, items, columns, pool)

    async def _build_candidates(
        self,
        user_id: str,
        items: dict[str, MemoryRecord | CompositeRecord],
        columns: dict[str, tuple[str, str]],
        pool: _Pool,
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
        pool: _Pool,
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

    async def _skills(
        self, user_id: str, plan: SearchPlan, query: str, state: ActionState, top_k: int
    ) -> list[dict[str, Any]]:
        if plan.mode == "answer" and not has_procedural_cue(query):
            return []
        k = {"action": self.config.skill_top_k, "mixed": max(1, top_k - 1)}.get(plan.mode, 1)
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
        threshold = (
            ACTION_SKILL_REUSE_THRESHOLD
            if plan.mode == "action"
            else self.config.skill_reuse_threshold
        )
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

    def _log(
        self,
        user_id: str,
        session_id: str | None,
        query: str,
        plan: SearchPlan,
        state: ActionState,
        candidates: Sequence[Candidate],
        selected: Sequence[Candidate],
        skills: Sequence[dict[str, Any]],
    ) -> str:
        now = self._clock.now_iso()
        log = UsageLog(
            log_id=uuid.uuid4().hex,
            user_id=user_id,
            session_id=session_id,
            created_at=now,
            query=query[:1000],
            mode=plan.mode,
            plan=asdict(plan),
            action_state=asdict(state),
            retrieved_ids=[c.item_id for c in candidates],
            kept_ids=[c.item_id for c in selected],
        )
        self._store.record_retrieval_nowait(log, [s["skill_id"] for s in skills], now)
        return log.log_id


async def _no_term_stats() -> tuple[dict[str, float], TermShares]:
    return {}, TermShares()


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)
