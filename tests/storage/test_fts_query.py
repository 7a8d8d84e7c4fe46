"""Common-term pruning of FTS queries: the share threshold and its large-memory cap."""

from __future__ import annotations

from lycheemem.domain.text.terms import (
    COMMON_TERM_DOCS,
    COMMON_TERM_SHARE,
    build_fts_query,
    common_term_share,
)


def test_common_share_is_constant_up_to_the_cap_then_falls() -> None:
    assert common_term_share(0) == COMMON_TERM_SHARE
    assert common_term_share(500) == COMMON_TERM_SHARE
    boundary = int(COMMON_TERM_DOCS / COMMON_TERM_SHARE)
    assert common_term_share(boundary) == COMMON_TERM_SHARE
    assert common_term_share(100_000) == COMMON_TERM_DOCS / 100_000
    assert common_term_share(100_000) * 100_000 == COMMON_TERM_DOCS


def test_max_share_drops_terms_above_it_and_keeps_the_rarest() -> None:
    shares = {"alice": 0.15, "task": 0.11, "1234": 0.00001}
    expr = build_fts_query("alice task 1234", "u_x", df=lambda t: shares.get(t, 0.0))
    assert expr == 'fts_owner : "u_x" AND ("1234" OR "alice" OR "task")'
    tight = build_fts_query(
        "alice task 1234", "u_x", df=lambda t: shares.get(t, 0.0), max_share=0.02
    )
    assert tight == 'fts_owner : "u_x" AND ("1234")'
    only_common = build_fts_query(
        "alice task", "u_x", df=lambda t: shares.get(t, 0.0), max_share=0.02
    )
    assert only_common == 'fts_owner : "u_x" AND ("task")'
