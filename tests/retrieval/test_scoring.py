"""The scorer of MEMORY.md §9.1: each component against hand-computed values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    SearchPlan,
    SourceRef,
    Temporal,
)
from lycheemem.domain.text.terms import light_stem
from lycheemem.errors import ConfigError
from lycheemem.retrieval.candidates import BREAKDOWN_KEYS, Candidate
from lycheemem.retrieval.scoring import (
    ScoreWeights,
    score_candidates,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DIM = 4


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unit(*values: float) -> np.ndarray:
    vec = np.array(values, dtype=np.float32)
    return vec / np.linalg.norm(vec)


def record(n: int = 1, **fields: object) -> MemoryRecord:
    base: dict[str, object] = {
        "record_id": f"{n:064x}",
        "user_id": "",
        "memory_type": "fact",
        "semantic_text": "Alice works at Acme.",
        "normalized_text": "alice works at acme",
        "created_at": iso(NOW),
        "updated_at": iso(NOW),
    }
    base.update(fields)
    return MemoryRecord(**base)  # type: ignore[arg-type]


def composite(n: int = 1, **fields: object) -> CompositeRecord:
    base: dict[str, object] = {
        "composite_id": "comp_" + f"{n:024x}",
        "user_id": "",
        "memory_type": "composite_pattern",
        "semantic_text": "Alice's work setup.",
        "normalized_text": "alice's work setup",
        "created_at": iso(NOW),
        "updated_at": iso(NOW),
    }
    base.update(fields)
    return CompositeRecord(**base)  # type: ignore[arg-type]


def empty_queries() -> np.ndarray:
    return np.zeros((0, DIM), dtype=np.float32)


def run(
    candidates: list[Candidate],
    *,
    plan: SearchPlan | None = None,
    semantic: np.ndarray | None = None,
    pragmatic: np.ndarray | None = None,
    terms: list[str] | None = None,
    weights: ScoreWeights | None = None,
    reflection: dict[str, float] | None = None,
    term_weights: dict[str, float] | None = None,
) -> list[Candidate]:
    score_candidates(
        candidates,
        plan=plan or SearchPlan(),
        semantic_query_vectors=empty_queries() if semantic is None else semantic,
        pragmatic_query_vectors=empty_queries() if pragmatic is None else pragmatic,
        query_terms=terms or [],
        now=NOW,
        weights=weights or ScoreWeights(),
        reflection_fit=reflection,
        term_weights=term_weights,
    )
    return candidates


def one(item: MemoryRecord | CompositeRecord, **kwargs: object) -> dict[str, float]:
    """Score a single candidate built from ``item`` and return its breakdown."""
    cand_fields = {k: kwargs.pop(k) for k in list(kwargs) if k in Candidate.__slots__}
    cand = Candidate.from_item(item, **cand_fields)
    run([cand], **kwargs)  # type: ignore[arg-type]
    return cand.breakdown


# --- weights ----------------------------------------------------------------------------------


def test_default_weights_match_the_spec() -> None:
    w = ScoreWeights()
    assert (w.alpha, w.beta, w.kappa, w.gamma, w.delta, w.eta, w.lambda_) == (
        0.25,
        0.25,
        0.15,
        0.15,
        0.10,
        0.10,
        0.10,
    )
    assert (w.lexical_weight, w.recency_half_life_days, w.token_cost_chars) == (0.9, 30, 2000)


@pytest.mark.parametrize("name", ["alpha", "lambda_", "lexical_weight", "eta"])
def test_negative_weight_is_rejected_naming_the_field(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ScoreWeights(**{name: -0.01})


@pytest.mark.parametrize("name", ["recency_half_life_days", "token_cost_chars"])
def test_zero_scale_is_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ScoreWeights(**{name: 0})


# --- semantic -----------------------------------------------------------------------------


def test_semantic_is_max_cosine_relative_to_the_best_candidate() -> None:
    queries = np.stack([unit(1, 1, 0, 0), unit(0, 0, 0, 1)])
    partial = Candidate.from_item(record(1), vector=unit(1, 0, 0, 0))
    best = Candidate.from_item(record(2), vector=unit(1, 1, 0, 0))
    run([partial, best], semantic=queries, weights=ScoreWeights(lexical_weight=0.0))
    assert best.breakdown["semantic"] == pytest.approx(1.0, abs=1e-6)
    assert partial.breakdown["semantic"] == pytest.approx(1 / math.sqrt(2), abs=1e-6)


def test_semantic_uses_pragmatic_queries_against_normalized_vector() -> None:
    b = one(
        record(),
        vector=unit(1, 0, 0, 0),
        normalized_vector=unit(0, 1, 0, 0),
        semantic=np.stack([unit(0, 0, 1, 0)]),
        pragmatic=np.stack([unit(0, 1, 0, 0)]),
    )
    assert b["semantic"] == pytest.approx(1.0, abs=1e-6)


def test_negative_cosine_is_clipped_and_missing_vector_counts_zero() -> None:
    query = np.stack([unit(1, 0, 0, 0)])
    opposite = Candidate.from_item(record(1), vector=unit(-1, 0, 0, 0))
    missing = Candidate.from_item(record(2))
    wrong_dim = Candidate.from_item(record(3), vector=unit(1, 0, 0))
    run([opposite, missing, wrong_dim], semantic=query)
    assert [c.breakdown["semantic"] for c in (opposite, missing, wrong_dim)] == [0.0, 0.0, 0.0]


def _lexical_pair(
    first: str, second: str, terms: list[str], **kwargs: object
) -> tuple[float, float]:
    a = Candidate.from_item(record(1), fts_text=first)
    b = Candidate.from_item(record(2), fts_text=second)
    run([a, b], terms=terms, weights=ScoreWeights(lexical_weight=1.0), **kwargs)  # type: ignore[arg-type]
    return a.breakdown["semantic"], b.breakdown["semantic"]


def test_lexical_relevance_is_the_matched_share_when_lengths_are_equal() -> None:
    half, full = _lexical_pair(
        "alice pg_dump nightly cron",
        "pg_dump nightly s3 backup",
        ["pg_dump", "nightly", "s3", "backup"],
    )
    assert full == pytest.approx(1.0)
    assert half == pytest.approx(0.5)


def test_rare_terms_weigh_more_than_common_ones() -> None:
    weights = {"caroline": 0.1, "guinea": 3.0}
    common, rare = _lexical_pair(
        "caroline likes tea", "oscar guinea pig", ["caroline", "guinea"], term_weights=weights
    )
    assert rare == pytest.approx(1.0)
    assert common == pytest.approx(0.1 / 3.0, rel=1e-3)


def test_longer_texts_need_more_evidence() -> None:
    short, long = _lexical_pair(
        "deploy helm chart", "deploy " + "filler " * 30 + "helm chart", ["deploy", "helm"]
    )
    # The same matched terms in a 12x longer text: clearly weaker, but not cancelled, because
    # length normalisation is mild (b = 0.3) for sentence-sized records.
    assert short == pytest.approx(1.0) and long < 0.8


def test_semantic_blends_cosine_and_lexical() -> None:
    lexical = Candidate.from_item(record(1), vector=unit(0, 1, 0, 0), fts_text="pg_dump backup")
    vector = Candidate.from_item(record(2), vector=unit(1, 0, 0, 0), fts_text="nothing here")
    run([lexical, vector], semantic=np.stack([unit(1, 0, 0, 0)]), terms=["pg_dump"])
    # raw relevance: lexical = 0.9 * 1 / (1 + k1) at average length; vector = 0.1 * cosine 1
    assert lexical.breakdown["semantic"] == pytest.approx(1.0)
    assert vector.breakdown["semantic"] == pytest.approx(0.1 / (0.9 / 2.2), rel=1e-3)


def test_lexical_counts_tags_and_falls_back_to_item_text() -> None:
    tagged = Candidate.from_item(record(1), fts_text="something else", fts_tags="ruff")
    both = Candidate.from_item(record(2), fts_text="something fix", fts_tags="ruff")
    run([tagged, both], terms=["ruff", "fix"], weights=ScoreWeights(lexical_weight=1.0))
    assert tagged.breakdown["semantic"] == pytest.approx(0.5)
    item = record(semantic_text="Run ruff with --fix to sort imports.", tool_tags=["ruff"])
    fallback = Candidate.from_item(item)
    other = Candidate.from_item(record(3, semantic_text="mypy checks types"))
    run(
        [fallback, other],
        terms=["ruff", "fix", "imports", "mypy"],
        weights=ScoreWeights(lexical_weight=1.0),
    )
    assert fallback.breakdown["semantic"] == pytest.approx(1.0)
    assert 0 < other.breakdown["semantic"] < 1.0


def test_light_stem_converges_inflections() -> None:
    assert light_stem("policies") == light_stem("policy")
    assert light_stem("classes") == light_stem("class")
    assert light_stem("configured") == light_stem("configure") == light_stem("configuring")
    assert light_stem("running") == "run"
    assert light_stem("passing") == light_stem("pass")
    assert light_stem("数据库") == "数据库"


# --- action utility ------------------------------------------------------------------------


def test_action_utility_is_fixed_in_answer_mode() -> None:
    b = one(record(memory_type="procedure", tool_tags=["ruff"]), plan=SearchPlan(mode="answer"))
    assert b["action_utility"] == pytest.approx(0.2)


def test_action_utility_type_part_alone() -> None:
    plan = SearchPlan(mode="action")
    assert one(record(memory_type="procedure"), plan=plan)["action_utility"] == 0.5
    assert one(record(memory_type="fact"), plan=plan)["action_utility"] == 0.0


def test_action_utility_averages_applicable_parts() -> None:
    plan = SearchPlan(
        mode="mixed",
        tool_hints=["ruff", "Docker Compose"],
        required_constraints=["dry run", "approval"],
    )
    item = record(
        memory_type="constraint",
        semantic_text="Deploys need a dry run first.",
        tool_tags=["docker"],
        constraint_tags=["approval required"],
    )
    # type 0.5; tools: "docker" ⊆ "docker compose" → 1/2; constraints: text + tag → 2/2
    b = one(item, plan=plan, fts_text="deploys need a dry run first")
    assert b["action_utility"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)


def test_action_utility_affordance_and_failure_parts() -> None:
    plan = SearchPlan(mode="mixed")
    item = record(affordance_tags=["auto fix"], failure_tags=["wrong namespace"])
    assert one(item, plan=plan)["action_utility"] == pytest.approx((0.0 + 0.15 + 0.3) / 3)
    plan = SearchPlan(mode="action", required_affordances=["auto fix", "rollback"])
    item = record(memory_type="tool_affordance", affordance_tags=["Auto Fix"])
    assert one(item, plan=plan)["action_utility"] == pytest.approx((0.5 + 0.5) / 2)


def test_reflection_fit_adds_to_action_utility_and_is_capped() -> None:
    plan = SearchPlan(mode="action", tool_hints=["ruff"])
    item = record(memory_type="procedure", tool_tags=["ruff"])
    b = one(item, plan=plan, reflection={item.record_id: 0.2})
    assert b["action_utility"] == pytest.approx(0.75 + 0.35 * 0.2)
    assert b["reflection_fit"] == pytest.approx(0.2)
    b = one(item, plan=plan, reflection={item.record_id: 1.0})
    assert b["action_utility"] == 1.0


# --- slot utility -------------------------------------------------------------------------


def test_slot_utility() -> None:
    assert one(record())["slot_utility"] == 0.0
    plan = SearchPlan(mode="action", missing_slots=["namespace", "region"])
    text = "deploy into the prod namespace"
    assert one(record(), plan=plan, fts_text=text)["slot_utility"] == pytest.approx(0.5)
    proc = record(memory_type="procedure")
    assert one(proc, plan=plan, fts_text=text)["slot_utility"] == pytest.approx(0.7)
    full = one(proc, plan=plan, fts_text=text, fts_tags="region")
    assert full["slot_utility"] == 1.0


# --- temporal fit --------------------------------------------------------------------------

MARCH = {"since": "2026-03-01T00:00:00.000Z", "until": "2026-03-31T23:59:59.999Z"}


@pytest.mark.parametrize(
    ("temporal", "created", "expected"),
    [
        (Temporal(t_ref="2026-03-14"), NOW, 1.0),
        (Temporal(t_ref="2026-04-02"), NOW, 0.0),
        (Temporal(t_valid_from="2026-01-01"), NOW, 1.0),
        (Temporal(t_valid_from="2026-02-01", t_valid_to="2026-02-28"), NOW, 0.0),
        (Temporal(t_ref="2026-02-20/2026-03-02"), NOW, 1.0),
        (Temporal(), datetime(2026, 3, 5, tzinfo=UTC), 0.6),
        (Temporal(), NOW, 0.0),
    ],
)
def test_temporal_fit_with_window(temporal: Temporal, created: datetime, expected: float) -> None:
    item = record(temporal=temporal, created_at=iso(created))
    assert one(item, plan=SearchPlan(temporal_filter=MARCH))["temporal_fit"] == expected


@pytest.mark.parametrize(
    ("temporal", "expected"),
    [
        (Temporal(), 0.3),
        (Temporal(t_valid_to="2026-04-01"), 0.1),
        (Temporal(t_valid_from="2026-01-01", t_valid_to="2026-12-31"), 0.7),
        (Temporal(t_valid_to="2026-05-01"), 0.7),  # valid through the whole day
        (Temporal(t_ref="2025-11-02T09:00:00.000Z"), 0.7),
        (Temporal(t_valid_from="2027-01-01"), 0.3),
    ],
)
def test_temporal_fit_without_window(temporal: Temporal, expected: float) -> None:
    assert one(record(temporal=temporal))["temporal_fit"] == expected


# --- recency, evidence, token cost -------------------------------------------------------


@pytest.mark.parametrize(("days", "expected"), [(0, 1.0), (30, 0.5), (60, 0.25), (-3, 1.0)])
def test_recency_halves_every_half_life(days: int, expected: float) -> None:
    item = record(updated_at=iso(NOW - timedelta(days=days)))
    assert one(item)["recency"] == pytest.approx(expected)


def test_recency_half_life_setting() -> None:
    item = record(updated_at=iso(NOW - timedelta(days=30)))
    weights = ScoreWeights(recency_half_life_days=10)
    assert one(item, weights=weights)["recency"] == pytest.approx(0.125)


def test_evidence_density_defaults() -> None:
    # support 0, hit_rate 0.5 (fewer than 2 retrievals), outcome 1/2
    assert one(record(retrieval_count=1))["evidence_density"] == pytest.approx(0.3)


def test_evidence_density_record_counts() -> None:
    item = record(
        source_session_id="s1",
        source_turn_ids=[0, 1],
        sources=[SourceRef("s1", [0, 1]), SourceRef("s2", [4])],
        retrieval_count=4,
        retrieval_hit_count=3,
        action_success_count=2,
        action_fail_count=1,
    )
    expected = 0.4 * 1.0 + 0.3 * 0.75 + 0.3 * (3 / 5)
    assert one(item)["evidence_density"] == pytest.approx(expected)
    two_turns = record(source_session_id="s1", source_turn_ids=[0, 1])
    assert one(two_turns)["evidence_density"] == pytest.approx(0.4 * 2 / 3 + 0.15 + 0.15)


def test_evidence_density_composite_support_from_leaves() -> None:
    comp = composite(source_record_ids=["a", "b"])
    b = one(comp, leaf_ids=frozenset({"a", "b", "c"}))
    assert b["evidence_density"] == pytest.approx(0.4 * 3 / 4 + 0.15 + 0.15)
    many = composite(source_record_ids=[str(i) for i in range(6)])
    assert one(many)["evidence_density"] == pytest.approx(0.4 + 0.3)


def test_token_cost() -> None:
    assert one(record(semantic_text="x" * 500))["token_cost"] == pytest.approx(0.25)
    assert one(record(semantic_text="x" * 5000))["token_cost"] == 1.0
    cheap = ScoreWeights(token_cost_chars=1000)
    assert one(record(semantic_text="x" * 500), weights=cheap)["token_cost"] == 0.5


# --- combination --------------------------------------------------------------------------


def test_score_is_the_weighted_sum_of_the_breakdown() -> None:
    item = record(memory_type="procedure", semantic_text="y" * 400, tool_tags=["ruff"])
    cand = Candidate.from_item(item, vector=unit(1, 0, 0, 0))
    weights = ScoreWeights(alpha=0.3, beta=0.2, kappa=0.1, gamma=0.05, delta=0.15, eta=0.2)
    plan = SearchPlan(mode="action", tool_hints=["ruff"], missing_slots=["ruff"])
    run([cand], plan=plan, semantic=np.stack([unit(1, 1, 0, 0)]), weights=weights)
    b = cand.breakdown
    assert tuple(b) == BREAKDOWN_KEYS
    assert all(0.0 <= v <= 1.0 for v in b.values())
    expected = (
        0.3 * b["semantic"]
        + 0.2 * b["action_utility"]
        + 0.1 * b["slot_utility"]
        + 0.05 * b["temporal_fit"]
        + 0.15 * b["recency"]
        + 0.2 * b["evidence_density"]
        - 0.1 * b["token_cost"]
    )
    assert cand.score == pytest.approx(expected)
    assert b["semantic"] == pytest.approx(1.0, abs=1e-6)  # the only candidate is the best
    assert b["token_cost"] == pytest.approx(0.2)


def test_weights_change_the_order() -> None:
    relevant = Candidate.from_item(record(1), vector=unit(1, 0, 0, 0))
    actionable = Candidate.from_item(
        record(2, memory_type="procedure", tool_tags=["helm"]), vector=unit(0, 1, 0, 0)
    )
    plan = SearchPlan(mode="action", tool_hints=["helm"])
    query = np.stack([unit(1, 0.5, 0, 0)])

    run([relevant, actionable], plan=plan, semantic=query)
    assert actionable.score > relevant.score

    semantic_only = ScoreWeights(beta=0.0, kappa=0.0, gamma=0.0, delta=0.0, eta=0.0, lambda_=0.0)
    run([relevant, actionable], plan=plan, semantic=query, weights=semantic_only)
    assert relevant.score > actionable.score
    assert relevant.score == pytest.approx(0.25 * relevant.breakdown["semantic"])


def test_empty_pool_is_a_no_op() -> None:
    assert run([]) == []
