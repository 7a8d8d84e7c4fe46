"""Semantic search: plan → multi-channel recall → tree expansion → score → select → render.

The recall channels and the loading of their candidates live in :mod:`.recall`; this
module runs the stages in order, adds follow-ups and reflection rounds, and logs usage.

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
    MemoryRecord,
    SearchPlan,
    Turn,
    UsageLog,
)
from lycheemem.domain.ports import Embedder, SemanticStore, SessionStore, VectorIndex
from lycheemem.domain.text.terms import (
    common_term_share,
    query_terms,
)
from lycheemem.retrieval.candidates import Candidate
from lycheemem.retrieval.planner.heuristic import derive_action_state, heuristic_plan
from lycheemem.retrieval.recall import Recall, RecallPool, TermShares
from lycheemem.retrieval.reflection import Gaps, reflection_fit
from lycheemem.retrieval.rendering import (
    constructed_context,
    novelty_context,
    provenance_items,
    semantic_results,
)
from lycheemem.retrieval.scoring import ScoreWeights, score_candidates
from lycheemem.retrieval.selection import (
    select_composite_first,
)

__all__ = [
    "PlanRefiner",
    "Reflector",
    "SearchConfig",
    "SearchOutcome",
    "SemanticSearch",
    "TermShares",
]

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


FAILURE_BIAS = ("failure_pattern", "constraint", "procedure")
FOLLOW_UP_SLOTS = 2
FOLLOW_UP_TURNS = 2
FOLLOW_UP_DECAY = 0.9
# Action-mode searches flag a skill reusable from this similarity, below the configured


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
        self._recall = Recall(store=store, vectors=vectors, embedder=embedder)
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
            pool = await self._recall.pool(
                user_id, plan, sem_vecs, prag_vecs, top_k, df, recall_min=self.config.recall_min
            )
            recalled = time.perf_counter()
            candidates = await self._recall.candidates(user_id, pool, plan, query, top_k)
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
        skills = (
            await self._recall.skills(
                user_id,
                plan,
                query,
                state,
                top_k,
                skill_top_k=self.config.skill_top_k,
                reuse_threshold=self.config.skill_reuse_threshold,
            )
            if include_skills
            else []
        )
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
            loaded = await self._recall.build_candidates(
                user_id, {k: v for k, v in records.items() if not v.expired}, columns, RecallPool()
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
            pool = await self._recall.pool(
                user_id, extra, sem, prag, top_k, df, recall_min=self.config.recall_min
            )
            known = {c.item_id for c in candidates}
            pool.drop(known)
            added = [
                c
                for c in await self._recall.candidates(user_id, pool, extra, query, top_k)
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
