"""Module 4, part 1: the multi-dimensional scorer (MEMORY.md §9.1).

``Score = α·S_sem + β·S_action + κ·S_slot + γ·S_temporal + δ·S_recency + η·S_evidence − λ·C_token``

Every component lies in [0, 1]; higher is better except ``C_token``, which is subtracted.
Cosines are computed with one matrix product per query set, from the stored vectors of every
candidate, whichever channel found it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import numpy as np

from lycheemem.domain.models import (
    ACTION_LIKE_TYPES,
    CompositeRecord,
    MemoryRecord,
    SearchPlan,
    Temporal,
)
from lycheemem.domain.text.terms import light_stem, token_set
from lycheemem.errors import ConfigError
from lycheemem.retrieval.candidates import Candidate

__all__ = ["ScoreWeights", "score_candidates"]

_SLOT_BONUS_TYPES = frozenset({"constraint", "procedure", "tool_affordance"})
_ANSWER_ACTION_UTILITY = 0.2
_REFLECTION_ACTION_WEIGHT = 0.35

_DATE_ONLY_RE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Scorer weights and scales; every value must be >= 0 (scales > 0).

    ``lambda_`` is λ (``lambda`` is a Python keyword). Raises :class:`ConfigError` naming the
    offending field on construction.
    """

    alpha: float = 0.25
    beta: float = 0.25
    kappa: float = 0.15
    gamma: float = 0.15
    delta: float = 0.10
    eta: float = 0.10
    lambda_: float = 0.10
    lexical_weight: float = 0.9
    recency_half_life_days: float = 30.0
    token_cost_chars: int = 2000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or math.isnan(value) or value < 0:
                raise ConfigError(f"score weight {f.name!r} must be a number >= 0, got {value!r}")
        for name in ("recency_half_life_days", "token_cost_chars"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"score setting {name!r} must be > 0")


def score_candidates(
    candidates: Sequence[Candidate],
    *,
    plan: SearchPlan,
    semantic_query_vectors: np.ndarray,
    pragmatic_query_vectors: np.ndarray,
    query_terms: list[str],
    now: datetime,
    weights: ScoreWeights,
    reflection_fit: Mapping[str, float] | None = None,
    term_weights: Mapping[str, float] | None = None,
) -> None:
    """Fill ``score`` and ``breakdown`` of every candidate in place (MEMORY.md §9.1).

    ``semantic_query_vectors`` (n, d) are compared with each candidate's ``vector`` and
    ``pragmatic_query_vectors`` (m, d) with its ``normalized_vector``; all vectors are expected
    L2-normalised, a missing or mis-shaped vector counts as cosine 0. ``query_terms`` are the
    query's content terms (lowercase). ``reflection_fit`` maps item ids to the reflection fit
    in [0, 1] (absent = 0). ``term_weights`` (query term → weight, e.g. inverse document
    frequency in the tenant's memory) makes ``lex`` the weighted share of matched terms, so a
    name that occurs in every memory counts less than a rare word; absent terms weigh 1.
    Order of ``candidates`` is not changed.
    """
    if not candidates:
        return
    now = _as_utc(now)
    cos = np.maximum(
        _max_cosines([c.vector for c in candidates], semantic_query_vectors),
        _max_cosines([c.normalized_vector for c in candidates], pragmatic_query_vectors),
    )
    context = _PlanContext.build(plan, query_terms, term_weights)
    fits = reflection_fit or {}
    relevance = _relative_relevance(candidates, cos, context, weights.lexical_weight)
    for i, candidate in enumerate(candidates):
        breakdown = _score_one(
            candidate,
            relevance=float(relevance[i]),
            context=context,
            now=now,
            weights=weights,
            reflection=_clip(fits.get(candidate.item_id, 0.0)),
        )
        candidate.breakdown = breakdown
        candidate.score = _combine(breakdown, weights)


# --- combination ------------------------------------------------------------------------------


def _combine(b: Mapping[str, float], w: ScoreWeights) -> float:
    return (
        w.alpha * b["semantic"]
        + w.beta * b["action_utility"]
        + w.kappa * b["slot_utility"]
        + w.gamma * b["temporal_fit"]
        + w.delta * b["recency"]
        + w.eta * b["evidence_density"]
        - w.lambda_ * b["token_cost"]
    )


@dataclass(frozen=True, slots=True)
class _PlanContext:
    """Plan-derived data shared by all candidates of one scoring call."""

    plan: SearchPlan
    query_stems: frozenset[str]
    stem_weights: Mapping[str, float]
    tool_hints: tuple[frozenset[str], ...]
    constraints: tuple[frozenset[str], ...]
    affordances: tuple[frozenset[str], ...]
    slots: tuple[frozenset[str], ...]
    window: tuple[datetime | None, datetime | None] | None

    @classmethod
    def build(
        cls,
        plan: SearchPlan,
        query_terms: Iterable[str],
        term_weights: Mapping[str, float] | None = None,
    ) -> _PlanContext:
        weights = term_weights or {}
        stem_weights: dict[str, float] = {}
        for term in query_terms:
            if term.strip():
                stem = light_stem(term.casefold())
                stem_weights[stem] = max(stem_weights.get(stem, 0.0), weights.get(term, 1.0))
        return cls(
            plan=plan,
            query_stems=frozenset(stem_weights),
            stem_weights=stem_weights,
            tool_hints=_phrase_token_sets(plan.tool_hints),
            constraints=_phrase_token_sets(plan.required_constraints),
            affordances=_phrase_token_sets(plan.required_affordances),
            slots=_phrase_token_sets(plan.missing_slots),
            window=_plan_window(plan.temporal_filter),
        )


def _score_one(
    candidate: Candidate,
    *,
    relevance: float,
    context: _PlanContext,
    now: datetime,
    weights: ScoreWeights,
    reflection: float,
) -> dict[str, float]:
    item = candidate.item
    text_tokens = token_set(candidate.fts_text) if candidate.fts_text else _item_text_tokens(item)
    tag_tokens = token_set(candidate.fts_tags) if candidate.fts_tags else _item_tag_tokens(item)
    return {
        "semantic": _clip(relevance),
        "action_utility": _action_utility(item, context, text_tokens, reflection),
        "slot_utility": _slot_utility(item, context.slots, text_tokens | tag_tokens),
        "temporal_fit": _temporal_fit(item, context.window, now),
        "recency": _recency(item, now, weights.recency_half_life_days),
        "evidence_density": _evidence_density(candidate),
        "token_cost": min(1.0, len(item.semantic_text) / weights.token_cost_chars),
        "reflection_fit": reflection,
    }


# --- semantic -------------------------------------------------------------------------------

_BM25_K1 = 1.2
# Mild length normalisation: records are sentence-sized, and a fuller statement of the same
# fact should not lose to a fragment (LoCoMo dev hit@10: b=0.75 0.765, 0.5 0.768, 0.3 0.773).
_BM25_B = 0.3


def _candidate_tokens(candidate: Candidate) -> tuple[frozenset[str], int]:
    """Stemmed tokens of a candidate's indexed text and tags, and the text's length."""
    item = candidate.item
    text = candidate.fts_text.split() if candidate.fts_text else None
    tokens = token_set(candidate.fts_text) if text else _item_text_tokens(item)
    tags = token_set(candidate.fts_tags) if candidate.fts_tags else _item_tag_tokens(item)
    return tokens | tags, len(text) if text else max(1, len(item.semantic_text.split()))


def _relative_relevance(
    candidates: Sequence[Candidate],
    cos: np.ndarray,
    context: _PlanContext,
    lexical_weight: float,
) -> np.ndarray:
    """S_sem: cosine blended with an IDF-weighted, length-normalised lexical match, rescaled
    so the most relevant candidate of the pool scores 1.

    Why not the seed's ``max(cos, w·lex)``: with a small static embedder every memory has a
    cosine of 0.3–0.6 to any question, so the max hides the lexical evidence, and an
    unnormalised share rewards long composites. Measured on the LoCoMo dev set (hit@10 with
    the default weights): max form 0.51, this form 0.73 (docs/DECISIONS.md).
    """
    tokens_and_lengths = [_candidate_tokens(c) for c in candidates]
    lengths = np.array([length for _, length in tokens_and_lengths], dtype=np.float32)
    average = float(lengths.mean()) if len(lengths) else 1.0
    total = sum(context.stem_weights.values())
    lexical = np.zeros(len(candidates), dtype=np.float32)
    if total > 0:
        for i, (tokens, length) in enumerate(tokens_and_lengths):
            matched = sum(w for stem, w in context.stem_weights.items() if stem in tokens)
            norm = 1 - _BM25_B + _BM25_B * length / max(average, 1.0)
            lexical[i] = matched / total / (1 + _BM25_K1 * norm)
    raw = (1 - lexical_weight) * np.asarray(cos, dtype=np.float32) + lexical_weight * lexical
    best = float(raw.max()) if len(raw) else 0.0
    return raw / best if best > 0 else raw


def _max_cosines(vectors: Sequence[np.ndarray | None], queries: np.ndarray) -> np.ndarray:
    """Per candidate, the max cosine over ``queries``, clipped to [0, 1]; 0 when unavailable."""
    count = len(vectors)
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[0] == 0 or q.shape[1] == 0:
        return np.zeros(count, dtype=np.float32)
    dim = q.shape[1]
    matrix = np.zeros((count, dim), dtype=np.float32)
    for i, vec in enumerate(vectors):
        if vec is not None and vec.shape == (dim,):
            matrix[i] = vec
    sims = matrix @ q.T
    best: np.ndarray = np.clip(sims.max(axis=1), 0.0, 1.0)
    return best


def _overlap_share(stems: frozenset[str], tokens: frozenset[str]) -> float:
    if not stems:
        return 0.0
    return len(stems & tokens) / len(stems)


# --- action and slot utility ----------------------------------------------------------------


def _action_utility(
    item: MemoryRecord | CompositeRecord,
    context: _PlanContext,
    text_tokens: frozenset[str],
    reflection: float,
) -> float:
    if context.plan.mode == "answer":
        base = _ANSWER_ACTION_UTILITY
    else:
        parts = _action_parts(item, context, text_tokens)
        base = min(1.0, sum(parts) / len(parts))
    return min(1.0, base + _REFLECTION_ACTION_WEIGHT * reflection)


def _action_parts(
    item: MemoryRecord | CompositeRecord, context: _PlanContext, text_tokens: frozenset[str]
) -> list[float]:
    parts = [0.5 if item.memory_type in ACTION_LIKE_TYPES else 0.0]
    if context.tool_hints:
        parts.append(_tag_share(context.tool_hints, _phrase_token_sets(item.tool_tags)))
    if context.constraints:
        tags = _phrase_token_sets(item.constraint_tags)
        hits = sum(1 for c in context.constraints if _matches_any(c, tags) or c <= text_tokens)
        parts.append(hits / len(context.constraints))
    if context.affordances:
        parts.append(_tag_share(context.affordances, _phrase_token_sets(item.affordance_tags)))
    elif item.affordance_tags:
        parts.append(0.15)
    if item.failure_tags:
        parts.append(0.3)
    return parts


def _slot_utility(
    item: MemoryRecord | CompositeRecord,
    slots: tuple[frozenset[str], ...],
    tokens: frozenset[str],
) -> float:
    if not slots:
        return 0.0
    share = sum(1 for slot in slots if slot and slot <= tokens) / len(slots)
    if item.memory_type in _SLOT_BONUS_TYPES:
        share += 0.2
    return min(1.0, share)


def _tag_share(wanted: tuple[frozenset[str], ...], tags: tuple[frozenset[str], ...]) -> float:
    return sum(1 for w in wanted if _matches_any(w, tags)) / len(wanted)


def _matches_any(wanted: frozenset[str], tags: tuple[frozenset[str], ...]) -> bool:
    """Casefolded whole-token containment in either direction between a hint and any tag."""
    if not wanted:
        return False
    return any(tag and (wanted <= tag or tag <= wanted) for tag in tags)


# --- temporal, recency, evidence ----------------------------------------------------------


def _temporal_fit(
    item: MemoryRecord | CompositeRecord,
    window: tuple[datetime | None, datetime | None] | None,
    now: datetime,
) -> float:
    temporal = item.temporal
    if window is not None:
        since, until = window
        event = _event_interval(temporal)
        if event is not None:
            return 1.0 if _overlaps(event, since, until) else 0.0
        created = _parse_time(item.created_at)
        return 0.6 if created is not None and _overlaps((created, created), since, until) else 0.0
    if not (temporal.t_ref or temporal.t_valid_from or temporal.t_valid_to):
        return 0.3
    valid_to = _parse_time(temporal.t_valid_to, end=True)
    if valid_to is not None and valid_to < now:
        return 0.1
    valid_from = _parse_time(temporal.t_valid_from)
    if valid_from is not None and valid_from > now:
        # Not valid yet: neither "valid now" nor stale, so treated like missing data.
        return 0.3
    return 0.7


def _recency(item: MemoryRecord | CompositeRecord, now: datetime, half_life_days: float) -> float:
    stamp = _parse_time(item.updated_at) or _parse_time(item.created_at)
    if stamp is None:
        return 0.0
    age_days = max(0.0, (now - stamp).total_seconds() / 86400.0)
    # float ** float is typed Any (a negative base could give a complex number); 0.5 cannot.
    return float(0.5 ** (age_days / half_life_days))


def _evidence_density(candidate: Candidate) -> float:
    item = candidate.item
    if isinstance(item, CompositeRecord):
        support = min(1.0, candidate.leaf_count() / 4)
    else:
        support = min(1.0, _source_turn_count(item) / 3)
    retrievals = item.retrieval_count
    hit_rate = min(1.0, item.retrieval_hit_count / retrievals) if retrievals >= 2 else 0.5
    success, fail = max(0, item.action_success_count), max(0, item.action_fail_count)
    outcome = (success + 1) / (success + fail + 2)
    return 0.4 * support + 0.3 * hit_rate + 0.3 * outcome


def _source_turn_count(record: MemoryRecord) -> int:
    """Distinct (session, turn) pairs a record was extracted from."""
    turns = {(record.source_session_id, t) for t in record.source_turn_ids}
    for source in record.sources:
        turns.update((source.session_id, t) for t in source.turn_ids)
    return len(turns)


# --- time parsing ---------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_time(value: str | None, *, end: bool = False) -> datetime | None:
    """Parse an ISO date or datetime; date-only values widen to their first/last instant."""
    if not value:
        return None
    text = value.strip()
    match = _DATE_ONLY_RE.match(text)
    if match:
        return _date_bound(match, end=end)
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _date_bound(match: re.Match[str], *, end: bool) -> datetime | None:
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError:
        return None
    if not end:
        return start
    if day:
        nxt = start + timedelta(days=1)
    elif month:
        nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    else:
        nxt = start.replace(year=start.year + 1)
    return nxt - timedelta(microseconds=1)


def _split_range(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    for sep in ("/", ".."):
        if sep in value:
            first, _, last = value.partition(sep)
            return first.strip() or None, last.strip() or None
    return value, value


def _event_interval(temporal: Temporal) -> tuple[datetime | None, datetime | None] | None:
    """Event time: ``t_valid_from/to`` (open ends allowed), else the span of ``t_ref``."""
    start = _parse_time(temporal.t_valid_from)
    stop = _parse_time(temporal.t_valid_to, end=True)
    if start is not None or stop is not None:
        return start, stop
    first, last = _split_range(temporal.t_ref)
    start, stop = _parse_time(first), _parse_time(last, end=True)
    if start is None and stop is None:
        return None
    return start, stop


def _plan_window(
    temporal_filter: Mapping[str, str | None] | None,
) -> tuple[datetime | None, datetime | None] | None:
    if not temporal_filter:
        return None
    since = _parse_time(temporal_filter.get("since"))
    until = _parse_time(temporal_filter.get("until"), end=True)
    if since is None and until is None:
        return None
    return since, until


def _overlaps(
    interval: tuple[datetime | None, datetime | None],
    since: datetime | None,
    until: datetime | None,
) -> bool:
    start, stop = interval
    if until is not None and start is not None and start > until:
        return False
    return not (since is not None and stop is not None and stop < since)


# --- tokens ---------------------------------------------------------------------------------


def _phrase_token_sets(phrases: Iterable[str]) -> tuple[frozenset[str], ...]:
    return tuple(token_set(p) for p in phrases if p and p.strip())


def _item_text_tokens(item: MemoryRecord | CompositeRecord) -> frozenset[str]:
    return token_set(" ".join([item.semantic_text, item.normalized_text, *item.entities]))


def _item_tag_tokens(item: MemoryRecord | CompositeRecord) -> frozenset[str]:
    tags = [
        *item.task_tags,
        *item.tool_tags,
        *item.constraint_tags,
        *item.failure_tags,
        *item.affordance_tags,
    ]
    return token_set(" ".join(tags))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
