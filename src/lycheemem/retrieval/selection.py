"""Module 4, part 2: composite-first selection of the top_k candidates (MEMORY.md §9.2).

A composite *covers* X when X is one of its leaf records or descendant composites. X has a
*unique value* against a composite C when X carries an entity, tag value, temporal value or
structured token (number of >= 2 digits, identifier with ``_ . / -`` or camelCase, URL, path)
that is absent from C's text, entities, tags and temporal fields. Two items are
*near-duplicates* when their vectors have cosine >= 0.95 or the token sets of their
``normalized_text`` have Jaccard >= 0.85.

Selection compares each walked item only with the already selected ones, using vectors and
token sets computed once per call: O(top_k × L) comparisons for a pool of L candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SearchPlan
from lycheemem.domain.text.terms import light_stem, token_set
from lycheemem.retrieval.candidates import Candidate

__all__ = [
    "NEAR_DUPLICATE_COSINE",
    "NEAR_DUPLICATE_JACCARD",
    "SelectionStats",
    "plan_hint_terms",
    "select_composite_first",
    "should_expand_children",
    "structured_tokens",
]

NEAR_DUPLICATE_COSINE = 0.95
NEAR_DUPLICATE_JACCARD = 0.85
_CHILD_QUERY_SHARE = 0.30

_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_PATH_RE = re.compile(r"(?<![\w/])(?:~|\.{1,2})?(?:/[\w.\-]+)+/?")
_IDENT_RE = re.compile(r"[A-Za-z0-9]+(?:[_./\-][A-Za-z0-9]+)+")
_CAMEL_RE = re.compile(r"\b(?:[a-z]+[A-Z]|[A-Z][a-z0-9]+[A-Z])[A-Za-z0-9]*\b")
_NUMBER_RE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\w)")
_TRAILING_PUNCT = ".,;:!?"


@dataclass(slots=True)
class SelectionStats:
    """Work counters of one selection call (for tests and diagnostics)."""

    walked: int = 0
    near_duplicate_checks: int = 0
    coverage_checks: int = 0


def select_composite_first(
    candidates: Sequence[Candidate],
    *,
    top_k: int,
    tree_mode: str,
    composite_bonus: float = 0.02,
    parent_margin: float = 0.05,
    stats: SelectionStats | None = None,
) -> list[Candidate]:
    """Pick at most ``top_k`` scored candidates, preferring composites over what they cover.

    Candidates must already carry ``score``. The result is in selection order: the main walk
    (score order, composites boosted by ``composite_bonus``) followed by backfill. No item
    appears twice and no two selected items are near-duplicates. ``tree_mode`` is the plan's
    ``tree_retrieval_mode``: ``root_only`` never selects an item covered by a composite in the
    pool; ``descend`` keeps covered children scoring within ``parent_margin`` of their parent;
    any other value applies the plain rules. ``stats``, when given, receives work counters.
    """
    if top_k <= 0 or not candidates:
        return []
    selector = _Selector(
        candidates,
        tree_mode=tree_mode,
        composite_bonus=composite_bonus,
        parent_margin=parent_margin,
        stats=stats if stats is not None else SelectionStats(),
    )
    return selector.run(top_k)


def structured_tokens(text: str) -> set[str]:
    """URLs, paths, identifiers (``_ . / -`` inside or camelCase) and numbers of >= 2 digits.

    Values are casefolded, with trailing sentence punctuation removed.
    """
    found: set[str] = set()
    for regex in (_URL_RE, _PATH_RE, _IDENT_RE, _CAMEL_RE):
        found.update(m.group().rstrip(_TRAILING_PUNCT) for m in regex.finditer(text))
    for match in _NUMBER_RE.finditer(text):
        number = match.group()
        if sum(ch.isdigit() for ch in number) >= 2:
            found.add(number)
    return {token.casefold() for token in found if token}


def plan_hint_terms(plan: SearchPlan) -> list[str]:
    """The plan's hint phrases that tag overlap is tested against in ``balanced`` expansion."""
    return [
        *plan.tool_hints,
        *plan.required_constraints,
        *plan.required_affordances,
        *plan.missing_slots,
    ]


def should_expand_children(
    candidate: Candidate,
    *,
    plan_hints: Iterable[str],
    query_terms: Sequence[str],
    children_texts: Iterable[str] = (),
) -> bool:
    """Whether a recalled composite's direct children join the pool in ``balanced`` mode.

    True when the composite's tags overlap a plan hint (casefolded whole-token containment
    either way), or when ``children_texts`` together contain >= 30 % of ``query_terms``.
    Always False for records.
    """
    if not candidate.is_composite:
        return False
    hints = [token_set(h) for h in plan_hints if h.strip()]
    tags = [token_set(t) for t in _all_tags(candidate.item) if t.strip()]
    if any(h and t and (h <= t or t <= h) for h in hints for t in tags):
        return True
    stems = {light_stem(t.casefold()) for t in query_terms if t.strip()}
    if not stems:
        return False
    tokens = token_set(" ".join(children_texts))
    return len(stems & tokens) / len(stems) >= _CHILD_QUERY_SHARE


# --- implementation -------------------------------------------------------------------------


def _all_tags(item: MemoryRecord | CompositeRecord) -> list[str]:
    return [
        *item.task_tags,
        *item.tool_tags,
        *item.constraint_tags,
        *item.failure_tags,
        *item.affordance_tags,
    ]


def _value_terms(item: MemoryRecord | CompositeRecord) -> set[str]:
    """Everything that can make an item's content unique against a covering composite."""
    values = {v.casefold().strip() for v in (*item.entities, *_all_tags(item))}
    temporal = item.temporal
    for stamp in (temporal.t_ref, temporal.t_valid_from, temporal.t_valid_to):
        if stamp:
            values.update(_date_parts(stamp))
    values.update(structured_tokens(item.semantic_text))
    return {v for v in values if v}


def _date_parts(stamp: str) -> list[str]:
    """The date portion of each end of an ISO value or range (time of day is not content)."""
    parts = re.split(r"/|\.\.", stamp)
    return [p.strip()[:10].casefold() if "T" in p else p.strip().casefold() for p in parts]


def _haystack(item: MemoryRecord | CompositeRecord) -> str:
    temporal = item.temporal
    dates = [
        part
        for stamp in (temporal.t_ref, temporal.t_valid_from, temporal.t_valid_to)
        if stamp
        for part in _date_parts(stamp)
    ]
    pieces = [item.semantic_text, item.normalized_text, *item.entities, *_all_tags(item), *dates]
    return "\n".join(pieces).casefold()


def _contains_term(haystack: str, term: str) -> bool:
    """``term`` occurs in ``haystack`` not glued to letters or digits on either side."""
    start = haystack.find(term)
    while start != -1:
        end = start + len(term)
        before_ok = start == 0 or not haystack[start - 1].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum()
        if before_ok and after_ok:
            return True
        start = haystack.find(term, start + 1)
    return False


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class _Selector:
    """State of one selection call: cached features, the pool's cover index, the selection."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        tree_mode: str,
        composite_bonus: float,
        parent_margin: float,
        stats: SelectionStats,
    ) -> None:
        self.pool = list(candidates)
        self.mode = tree_mode
        self.margin = parent_margin
        self.stats = stats
        self.eff = [c.score + (composite_bonus if c.is_composite else 0.0) for c in self.pool]
        # Ties go by id: recall channels finish in any order, results must not.
        self.order = sorted(
            range(len(self.pool)), key=lambda i: (-self.eff[i], self.pool[i].item_id)
        )
        self._tokens: dict[int, frozenset[str]] = {}
        self.vectors, self.has_vector = _vector_matrix(self.pool)
        self.covering = _cover_index(self.pool)
        self.selected: list[int] = []
        self.selected_ids: set[str] = set()
        self._values: dict[int, set[str]] = {}
        self._haystacks: dict[int, str] = {}
        self.covered_turns: set[tuple[str, int]] = set()

    def run(self, top_k: int) -> list[Candidate]:
        for i in self.order:
            if len(self.selected) >= top_k:
                break
            self.stats.walked += 1
            self._walk_step(i)
        for i in self.order:
            if len(self.selected) >= top_k:
                break
            if self._selectable(i) and not (self.mode == "root_only" and self.covering[i]):
                self._select(i)
        return [self.pool[i] for i in self.selected]

    def _walk_step(self, i: int) -> None:
        if not self._selectable(i):
            return
        if self._adds_no_source(i):
            return  # deferred to backfill: its evidence is already in the selection
        if self.mode == "root_only":
            if not self.covering[i]:
                self._select(i)
            return
        if self._folded_into_selected(i):
            return
        parent = self._best_parent(i) if self.mode != "descend" else None
        # Prefer the parent when it scores within the margin and the child adds nothing new;
        # a parent that duplicates something already chosen yields to the child.
        if (
            parent is not None
            and not self._has_unique_value(i, parent)
            and self._selectable(parent)
        ):
            self._select(parent)
            return
        self._select(i)

    def _selectable(self, i: int) -> bool:
        return self.pool[i].item_id not in self.selected_ids and not self._near_duplicate(i)

    def _select(self, i: int) -> None:
        self.selected.append(i)
        self.selected_ids.add(self.pool[i].item_id)
        self.covered_turns |= _source_turns(self.pool[i].item)

    def _adds_no_source(self, i: int) -> bool:
        """True when every conversation turn the item comes from is already behind a selection.

        Such items are mostly other sentences of the same statement; the main walk prefers
        items with new evidence and backfill still takes these when slots remain.
        """
        turns = _source_turns(self.pool[i].item)
        return bool(turns) and turns <= self.covered_turns

    def _near_duplicate(self, i: int) -> bool:
        if not self.selected:
            return False
        self.stats.near_duplicate_checks += len(self.selected)
        if self.has_vector[i]:
            with_vec = [j for j in self.selected if self.has_vector[j]]
            if with_vec:
                sims = self.vectors[with_vec] @ self.vectors[i]
                if float(sims.max()) >= NEAR_DUPLICATE_COSINE:
                    return True
        mine = self._token_set(i)
        return any(
            _jaccard(mine, self._token_set(j)) >= NEAR_DUPLICATE_JACCARD for j in self.selected
        )

    def _token_set(self, i: int) -> frozenset[str]:
        """Token set of ``normalized_text``, computed on first use (most items are never walked)."""
        tokens = self._tokens.get(i)
        if tokens is None:
            item = self.pool[i].item
            tokens = self._tokens[i] = token_set(item.normalized_text or item.semantic_text)
        return tokens

    def _folded_into_selected(self, i: int) -> bool:
        """A selected composite covers ``i`` and ``i`` adds nothing it lacks (the covered rule)."""
        for p in self.covering[i]:
            self.stats.coverage_checks += 1
            if self.pool[p].item_id not in self.selected_ids:
                continue
            if self._has_unique_value(i, p):
                continue
            if self.mode == "descend" and self._score(i) >= self._score(p) - self.margin:
                continue
            return True
        return False

    def _best_parent(self, i: int) -> int | None:
        """The best-scoring covering composite in the pool, if within the parent margin."""
        best: int | None = None
        for p in self.covering[i]:
            self.stats.coverage_checks += 1
            if best is None or self._score(p) > self._score(best):
                best = p
        if best is None or self._score(best) < self._score(i) - self.margin:
            return None
        return best

    def _score(self, i: int) -> float:
        """The scorer's value; the composite bonus only orders the walk, margins use this."""
        return self.pool[i].score

    def _has_unique_value(self, i: int, composite: int) -> bool:
        values = self._values.get(i)
        if values is None:
            values = self._values[i] = _value_terms(self.pool[i].item)
        hay = self._haystacks.get(composite)
        if hay is None:
            hay = self._haystacks[composite] = _haystack(self.pool[composite].item)
        return any(not _contains_term(hay, v) for v in values)


def _source_turns(item: MemoryRecord | CompositeRecord) -> frozenset[tuple[str, int]]:
    """(session, turn index) pairs an item derives from."""
    pairs = {(source.session_id, turn) for source in item.sources for turn in source.turn_ids}
    if isinstance(item, MemoryRecord) and item.source_session_id:
        pairs.update((item.source_session_id, turn) for turn in item.source_turn_ids)
    return frozenset(pairs)


def _vector_matrix(pool: Sequence[Candidate]) -> tuple[np.ndarray, list[bool]]:
    dims = {c.vector.shape for c in pool if c.vector is not None and c.vector.ndim == 1}
    if len(dims) != 1:
        # No vectors, or mixed dimensions: fall back on token-set Jaccard only.
        return np.zeros((len(pool), 1), dtype=np.float32), [False] * len(pool)
    (dim,) = dims.pop()
    matrix = np.zeros((len(pool), dim), dtype=np.float32)
    present = [False] * len(pool)
    for i, c in enumerate(pool):
        if c.vector is not None and c.vector.shape == (dim,):
            matrix[i] = c.vector
            present[i] = True
    return matrix, present


def _cover_index(pool: Sequence[Candidate]) -> list[list[int]]:
    """For each pool position, the positions of the pool's composites covering that item."""
    position = {c.item_id: i for i, c in enumerate(pool)}
    covering: list[set[int]] = [set() for _ in pool]
    for p, composite in enumerate(pool):
        if not composite.is_composite:
            continue
        for item_id in composite.covered_ids() & position.keys():
            i = position[item_id]
            if i != p:
                covering[i].add(p)
    for i, candidate in enumerate(pool):
        for parent_id in candidate.parent_ids:
            parent = position.get(parent_id)
            if parent is not None and parent != i and pool[parent].is_composite:
                covering[i].add(parent)
    return [sorted(s) for s in covering]
