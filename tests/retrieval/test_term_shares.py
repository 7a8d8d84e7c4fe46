"""When full-text recall stops BM25-ranking every match: the kept terms match thousands."""

from __future__ import annotations

from lycheemem.domain.text.terms import COMMON_TERM_DOCS
from lycheemem.retrieval.search import TermShares

TOTAL = 100_000


def _shares(**docs: int) -> TermShares:
    return TermShares({term: count / TOTAL for term, count in docs.items()}, 0.02, TOTAL)


def test_kept_terms_matching_more_than_the_cap_together_are_crowded() -> None:
    # "upgrade" and "fail" are pruned as common; "pytest" alone is kept and is too big.
    assert _shares(pytest=COMMON_TERM_DOCS + 1, upgrade=11_000, fail=11_000).crowded(
        "why did the pytest upgrade fail?"
    )
    # Each kept term is selective on its own, but their OR is not.
    assert _shares(alice=1_500, berlin=1_500).crowded("when did alice visit berlin")


def test_selective_kept_terms_are_not_crowded() -> None:
    shares = _shares(pytest=1_000, upgrade=11_000, fail=40)
    assert not shares.crowded("why did the pytest upgrade fail?")


def test_terms_without_statistics_count_as_selective() -> None:
    shares = _shares(upgrade=1_000)
    assert not shares.crowded("upgrade namespace")
    assert not shares.crowded("why is the")  # stopwords only: nothing to search


def test_small_memories_are_never_crowded() -> None:
    small = TermShares({"alice": 0.9, "task": 0.8}, 0.2, 1_000)
    assert not small.crowded("alice task")
