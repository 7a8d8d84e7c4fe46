"""Composite-first selection (MEMORY.md §9.2) over hand-built, pre-scored pools."""

from __future__ import annotations

import numpy as np
import pytest

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SearchPlan, Temporal
from lycheemem.retrieval.candidates import Candidate
from lycheemem.retrieval.selection import (
    SelectionStats,
    plan_hint_terms,
    select_composite_first,
    should_expand_children,
    structured_tokens,
)

STAMP = "2026-05-01T12:00:00.000Z"
DIM = 64


def axis(n: int) -> np.ndarray:
    """A distinct unit vector per n, so unrelated items are never cosine duplicates."""
    vec = np.zeros(DIM, dtype=np.float32)
    vec[n % DIM] = 1.0
    return vec


def rec(
    n: int,
    score: float,
    text: str,
    *,
    vector: np.ndarray | None = None,
    parent_ids: list[str] | None = None,
    **fields: object,
) -> Candidate:
    item = MemoryRecord(
        record_id=f"{n:064x}",
        user_id="",
        memory_type=str(fields.pop("memory_type", "fact")),
        semantic_text=text,
        normalized_text=text.lower().rstrip("."),
        created_at=STAMP,
        updated_at=STAMP,
        **fields,  # type: ignore[arg-type]
    )
    cand = Candidate.from_item(
        item, vector=axis(n) if vector is None else vector, parent_ids=parent_ids or []
    )
    cand.score = score
    return cand


def comp(
    n: int,
    score: float,
    text: str,
    *,
    covers: list[Candidate],
    vector: np.ndarray | None = None,
    with_leaf_ids: bool = True,
    **fields: object,
) -> Candidate:
    leaves = [c.item_id for c in covers if not c.is_composite]
    children = [c.item_id for c in covers if c.is_composite]
    item = CompositeRecord(
        composite_id="comp_" + f"{n:024x}",
        user_id="",
        memory_type="composite_pattern",
        semantic_text=text,
        normalized_text=text.lower().rstrip("."),
        created_at=STAMP,
        updated_at=STAMP,
        source_record_ids=leaves if with_leaf_ids else [],
        child_composite_ids=children if with_leaf_ids else [],
        **fields,  # type: ignore[arg-type]
    )
    cand = Candidate.from_item(
        item,
        vector=axis(n) if vector is None else vector,
        leaf_ids=frozenset(leaves) if with_leaf_ids else frozenset(),
        descendant_ids=frozenset(leaves + children) if with_leaf_ids else frozenset(),
    )
    cand.score = score
    return cand


def filler(start: int, count: int, score: float = 0.1) -> list[Candidate]:
    words = ["apple", "river", "violin", "glacier", "lantern", "orchid", "canyon", "harbor"]
    return [
        rec(start + i, score - i * 0.001, f"{words[i % 8]} note {i} about topic{i}")
        for i in range(count)
    ]


def ids(selected: list[Candidate]) -> list[str]:
    return [c.item_id for c in selected]


def select(pool: list[Candidate], top_k: int, mode: str = "balanced") -> list[Candidate]:
    return select_composite_first(pool, top_k=top_k, tree_mode=mode)


# --- ordering --------------------------------------------------------------------------------


def test_orders_by_score_and_cuts_at_top_k() -> None:
    a, b, c = rec(1, 0.3, "Alpha fact."), rec(2, 0.9, "Beta fact."), rec(3, 0.5, "Gamma fact.")
    assert ids(select([a, b, c], 2)) == [b.item_id, c.item_id]
    assert select([a, b, c], 0) == []
    assert select([], 3) == []


def test_composite_bonus_lifts_composites() -> None:
    r = rec(1, 0.50, "Alice likes tea.")
    c = comp(2, 0.49, "Bob's travel habits.", covers=[])
    assert ids(select([r, c], 2)) == [c.item_id, r.item_id]
    no_bonus = select_composite_first([r, c], top_k=2, tree_mode="balanced", composite_bonus=0.0)
    assert ids(no_bonus) == [r.item_id, c.item_id]


def test_same_item_twice_is_selected_once() -> None:
    a = rec(1, 0.9, "Alpha fact.")
    twin = rec(1, 0.8, "Alpha fact.", vector=axis(40))
    assert ids(select([a, twin], 3)) == [a.item_id]


# --- composite-first rules -----------------------------------------------------------------


def test_covered_child_without_unique_value_is_folded_away() -> None:
    child = rec(1, 0.70, "Alice drinks green tea.", entities=["Alice"])
    parent = comp(2, 0.80, "Alice drinks green tea and oolong every morning.", covers=[child])
    pool = [child, parent, *filler(10, 5)]
    selected = select(pool, 3)
    assert parent.item_id in ids(selected)
    assert child.item_id not in ids(selected)
    assert len(selected) == 3


def test_covered_child_with_unique_value_is_kept() -> None:
    child = rec(1, 0.70, "Postgres listens on port 5432 on db-01.", entities=["Postgres"])
    parent = comp(2, 0.80, "Postgres is the main database.", covers=[child], entities=["Postgres"])
    selected = select([child, parent, *filler(10, 5)], 3)
    assert ids(selected)[:2] == [parent.item_id, child.item_id]


@pytest.mark.parametrize(
    "extra",
    [
        {"entities": ["Bob"]},
        {"tool_tags": ["kubectl"]},
        {"temporal": Temporal(t_ref="2026-03-14")},
    ],
)
def test_entity_tag_or_date_absent_from_parent_is_unique_value(extra: dict[str, object]) -> None:
    child = rec(1, 0.70, "The team deploys on Fridays.", **extra)
    parent = comp(2, 0.80, "The team deploys on Fridays after review.", covers=[child])
    assert child.item_id in ids(select([child, parent, *filler(10, 5)], 3))


def test_values_present_in_parent_tags_and_dates_are_not_unique() -> None:
    child = rec(
        1,
        0.70,
        "The team deploys with kubectl.",
        tool_tags=["kubectl"],
        temporal=Temporal(t_ref="2026-03-14T09:30:00.000Z"),
    )
    parent = comp(
        2,
        0.80,
        "Deploy routine of the team.",
        covers=[child],
        tool_tags=["kubectl"],
        temporal=Temporal(t_ref="2026-03-14"),
    )
    assert child.item_id not in ids(select([child, parent, *filler(10, 5)], 3))


def test_parent_within_margin_replaces_child() -> None:
    child = rec(1, 0.70, "Alice prefers aisle seats.", entities=["Alice"])
    parent = comp(2, 0.66, "Alice prefers aisle seats and quiet hotels.", covers=[child])
    other = rec(3, 0.67, "The office is closed on Sundays.")
    selected = select([child, parent, other, *filler(10, 5)], 3)
    # the parent takes the child's place, ahead of the item scoring between them
    assert ids(selected)[:2] == [parent.item_id, other.item_id]
    assert child.item_id not in ids(selected)


def test_parent_outside_margin_does_not_replace_child() -> None:
    child = rec(1, 0.70, "Alice prefers aisle seats.", entities=["Alice"])
    parent = comp(2, 0.55, "Alice prefers aisle seats and quiet hotels.", covers=[child])
    selected = select([child, parent, *filler(10, 5)], 2)
    assert ids(selected) == [child.item_id, parent.item_id]


def test_best_covering_composite_is_the_parent_chosen() -> None:
    child = rec(1, 0.70, "Alice prefers aisle seats.")
    weak = comp(2, 0.60, "Alice prefers aisle seats on trains.", covers=[child])
    strong = comp(3, 0.66, "Alice prefers aisle seats everywhere.", covers=[child])
    selected = select([child, weak, strong, *filler(10, 5)], 1)
    assert ids(selected) == [strong.item_id]


def test_parent_that_duplicates_a_selection_yields_to_child() -> None:
    shared = axis(30)
    top = rec(5, 0.90, "Travel profile of Alice.", vector=shared)
    child = rec(1, 0.70, "Alice prefers aisle seats.")
    parent = comp(2, 0.67, "Alice prefers aisle seats always.", covers=[child], vector=shared)
    selected = select([top, child, parent, *filler(10, 5)], 2)
    assert ids(selected) == [top.item_id, child.item_id]


def test_coverage_known_only_through_parent_ids() -> None:
    parent = comp(2, 0.80, "Alice drinks green tea every morning.", covers=[], with_leaf_ids=False)
    child = rec(1, 0.70, "Alice drinks green tea.", parent_ids=[parent.item_id])
    assert child.item_id not in ids(select([child, parent, *filler(10, 5)], 3))


def test_nested_composite_is_covered_by_its_ancestor() -> None:
    leaf = rec(1, 0.40, "Alice drinks green tea.")
    mid = comp(2, 0.60, "Alice drinks tea.", covers=[leaf])
    root = comp(3, 0.80, "Alice drinks tea and coffee daily.", covers=[mid, leaf])
    selected = select([leaf, mid, root, *filler(10, 5)], 3)
    assert root.item_id in ids(selected)
    assert mid.item_id not in ids(selected)
    assert leaf.item_id not in ids(selected)


# --- near-duplicates ---------------------------------------------------------------------


def test_near_duplicate_by_cosine_is_suppressed() -> None:
    a = rec(1, 0.9, "Alice lives in Berlin.")
    b = rec(2, 0.8, "Alice resides in the German capital.", vector=axis(1) * 0.99 + axis(2) * 0.1)
    b.vector = b.vector / np.linalg.norm(b.vector)
    c = rec(3, 0.7, "Bob lives in Paris.")
    assert ids(select([a, b, c], 3)) == [a.item_id, c.item_id]


def test_near_duplicate_by_token_jaccard_is_suppressed() -> None:
    words = " ".join(f"word{i}" for i in range(12))
    a = rec(1, 0.9, f"{words} alpha")
    b = rec(2, 0.8, f"{words} beta")  # Jaccard 12/14 ≈ 0.857
    c = rec(3, 0.7, " ".join(f"word{i}" for i in range(8)) + " gamma delta")  # 8/14
    assert ids(select([a, b, c], 3)) == [a.item_id, c.item_id]


def test_near_duplicates_are_not_backfilled() -> None:
    a = rec(1, 0.9, "Alice lives in Berlin.")
    b = rec(2, 0.8, "alice lives in berlin")
    assert ids(select([a, b], 5)) == [a.item_id]


# --- backfill and tree modes ---------------------------------------------------------------


def test_backfill_adds_folded_items_when_short() -> None:
    child = rec(1, 0.70, "Alice drinks green tea.")
    parent = comp(2, 0.80, "Alice drinks green tea and oolong.", covers=[child])
    assert ids(select([child, parent], 2)) == [parent.item_id, child.item_id]


def test_root_only_never_selects_covered_items() -> None:
    child = rec(1, 0.95, "Port 5432 is used by Postgres on db-01.")  # unique values
    parent = comp(2, 0.50, "Database notes.", covers=[child])
    other = rec(3, 0.40, "Alice likes tea.")
    selected = select([child, parent, other], 5, mode="root_only")
    assert ids(selected) == [parent.item_id, other.item_id]


def test_descend_keeps_detailed_children() -> None:
    child = rec(1, 0.76, "Alice drinks green tea.")
    parent = comp(2, 0.80, "Alice drinks green tea and oolong.", covers=[child])
    pool = [child, parent, *filler(10, 5)]
    assert ids(select(pool, 2, mode="descend")) == [parent.item_id, child.item_id]
    assert child.item_id not in ids(select(pool, 2, mode="balanced"))


def test_descend_still_folds_children_far_below_parent() -> None:
    child = rec(1, 0.50, "Alice drinks green tea.")
    parent = comp(2, 0.80, "Alice drinks green tea and oolong.", covers=[child])
    pool = [child, parent, *filler(10, 5, score=0.45)]
    assert child.item_id not in ids(select(pool, 3, mode="descend"))


# --- work bound --------------------------------------------------------------------------


def test_selection_work_is_bounded_by_top_k_times_pool() -> None:
    rng = np.random.default_rng(7)
    pool: list[Candidate] = []
    for n in range(300):
        vec = rng.normal(size=DIM).astype(np.float32)
        cand = rec(n, float(rng.random()), f"note {n} about subject{n} item{n % 17}", vector=vec)
        cand.vector = vec / np.linalg.norm(vec)
        pool.append(cand)
    for n in range(300, 330):
        members = pool[(n - 300) * 5 : (n - 300) * 5 + 5]
        pool.append(comp(n, float(rng.random()), f"group {n} summary", covers=members))
    stats = SelectionStats()
    selected = select_composite_first(pool, top_k=10, tree_mode="balanced", stats=stats)
    assert len(selected) == 10
    assert len({c.item_id for c in selected}) == 10
    assert stats.walked <= len(pool)
    assert stats.near_duplicate_checks <= 2 * 10 * len(pool)
    assert stats.coverage_checks <= 2 * len(pool)


# --- helpers -----------------------------------------------------------------------------


def test_structured_tokens() -> None:
    text = (
        "Run pg_dump v1.2 from /var/backups/db on port 5432 via https://example.com/x, "
        "then call getUser in PostgreSQL; step 3 of 9."
    )
    found = structured_tokens(text)
    for expected in (
        "pg_dump",
        "v1.2",
        "/var/backups/db",
        "5432",
        "https://example.com/x",
        "getuser",
        "postgresql",
    ):
        assert expected in found
    assert "3" not in found and "9" not in found
    assert "run" not in found


def test_should_expand_children() -> None:
    parent = comp(1, 0.5, "Deploy routine.", covers=[], tool_tags=["helm"])
    plan = SearchPlan(mode="action", tool_hints=["Helm upgrade"])
    assert should_expand_children(parent, plan_hints=plan_hint_terms(plan), query_terms=[])
    assert not should_expand_children(parent, plan_hints=["terraform"], query_terms=["deploy"])
    assert should_expand_children(
        parent,
        plan_hints=[],
        query_terms=["namespace", "prod", "rollback"],
        children_texts=["Helm upgrade failed in the wrong namespace.", "Use prod."],
    )
    assert not should_expand_children(
        parent,
        plan_hints=[],
        query_terms=["namespace", "prod", "rollback", "canary"],
        children_texts=["The namespace was wrong."],
    )
    leaf = rec(2, 0.5, "Deploy with helm.", tool_tags=["helm"])
    assert not should_expand_children(leaf, plan_hints=["helm"], query_terms=[])


def test_items_without_new_source_turns_wait_for_backfill() -> None:
    from lycheemem.domain.models import SourceRef

    def sourced(n: int, turn: int, score: float) -> Candidate:
        item = MemoryRecord(
            record_id=f"r{n}",
            user_id="",
            memory_type="fact",
            semantic_text=f"fact number {n}",
            normalized_text=f"fact number {n} distinct words {n * 7}",
            created_at="2026-01-01T00:00:00.000Z",
            updated_at="2026-01-01T00:00:00.000Z",
            source_session_id="s",
            source_turn_ids=[turn],
            sources=[SourceRef("s", [turn], [])],
        )
        candidate = Candidate.from_item(item)
        candidate.score = score
        return candidate

    same_turn = [sourced(1, 0, 0.9), sourced(2, 0, 0.8), sourced(3, 1, 0.7)]
    picked = select_composite_first(same_turn, top_k=2, tree_mode="balanced")
    assert [c.item_id for c in picked] == ["r1", "r3"]
    backfilled = select_composite_first(same_turn, top_k=3, tree_mode="balanced")
    assert [c.item_id for c in backfilled] == ["r1", "r3", "r2"]


def test_cover_index_links_an_item_to_the_composites_named_in_its_parent_ids() -> None:
    """A parent known only through ``parent_ids`` covers the item; unknown parents are skipped."""
    from lycheemem.retrieval.selection import _cover_index

    leaf = rec(1, 0.9, "Alice drinks green tea.")
    parent = comp(2, 0.8, "Alice drinks tea.", covers=[], with_leaf_ids=False)
    child = rec(3, 0.7, "Alice drinks oolong.", parent_ids=[parent.item_id, "comp_missing"])
    assert _cover_index([leaf, parent, child]) == [[], [], [1]]
