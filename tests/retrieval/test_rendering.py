"""Search output rendering: ProvenanceItem, context strings and the SemanticResult wrapper."""

from __future__ import annotations

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SourceRef, Temporal
from lycheemem.retrieval.candidates import BREAKDOWN_KEYS, Candidate
from lycheemem.retrieval.rendering import (
    constructed_context,
    novelty_context,
    provenance_item,
    provenance_items,
    semantic_result_wrapper,
    semantic_results,
)

PROVENANCE_FIELDS = {
    "index",
    "record_id",
    "source",
    "semantic_source_type",
    "memory_type",
    "score",
    "score_breakdown",
    "semantic_text",
    "entities",
    "temporal",
    "task_tags",
    "tool_tags",
    "constraint_tags",
    "failure_tags",
    "affordance_tags",
    "source_record_ids",
    "child_composite_ids",
    "source_session_id",
    "source_turn_ids",
    "source_turn_refs",
    "sources",
    "channels",
    "created_at",
    "updated_at",
}
RID = "a" * 64
CID = "comp_" + "b" * 24


def record_candidate() -> Candidate:
    item = MemoryRecord(
        record_id=RID,
        user_id="u1",
        memory_type="procedure",
        semantic_text="Alice backs up Postgres nightly with pg_dump and uploads to S3.",
        normalized_text="alice backs up postgres nightly with pg_dump and uploads to s3",
        created_at="2026-04-01T08:00:00.000Z",
        updated_at="2026-04-02T09:30:00.123Z",
        entities=["pg_dump", "S3"],
        temporal=Temporal(t_ref="2026-04-01"),
        task_tags=["backup"],
        tool_tags=["pg_dump"],
        constraint_tags=["nightly"],
        failure_tags=[],
        affordance_tags=["dump database"],
        source_session_id="s1",
        source_turn_ids=[2, 3],
        source_turn_refs=["t-2", "t-3"],
        sources=[SourceRef("s9", [1], [])],
    )
    cand = Candidate.from_item(item, channels={"tree", "fts", "vector", "custom"})
    cand.score = 0.7149
    cand.breakdown = {"semantic": 0.8, "recency": 1.0}
    return cand


def composite_candidate() -> Candidate:
    item = CompositeRecord(
        composite_id=CID,
        user_id="u1",
        memory_type="usage_pattern",
        semantic_text="Backups: pg_dump nightly; restore drills monthly.",
        normalized_text="backups: pg_dump nightly; restore drills monthly",
        created_at="2026-04-03T00:00:00.000Z",
        updated_at="2026-04-03T00:00:00.000Z",
        source_record_ids=[RID, "c" * 64],
        child_composite_ids=["comp_" + "d" * 24],
        sources=[SourceRef(f"s{i}", [i], [f"r{i}"]) for i in range(25)],
    )
    cand = Candidate.from_item(item, channels={"parent"})
    cand.score = 0.5
    cand.breakdown = {k: 0.5 for k in BREAKDOWN_KEYS}
    return cand


def test_record_provenance_item_is_complete() -> None:
    p = provenance_item(record_candidate(), 1)
    assert set(p) == PROVENANCE_FIELDS
    assert p["index"] == 1
    assert p["record_id"] == RID
    assert p["source"] == p["semantic_source_type"] == "record"
    assert p["memory_type"] == "procedure"
    assert p["score"] == 0.7149
    assert list(p["score_breakdown"]) == list(BREAKDOWN_KEYS)
    assert p["score_breakdown"]["semantic"] == 0.8
    assert p["score_breakdown"]["token_cost"] == 0.0
    assert p["entities"] == ["pg_dump", "S3"]
    assert p["temporal"] == {"t_ref": "2026-04-01", "t_valid_from": None, "t_valid_to": None}
    assert p["tool_tags"] == ["pg_dump"] and p["affordance_tags"] == ["dump database"]
    assert p["source_record_ids"] == [] and p["child_composite_ids"] == []
    assert p["source_session_id"] == "s1"
    assert p["source_turn_ids"] == [2, 3]
    assert p["source_turn_refs"] == ["t-2", "t-3"]
    # the first source is listed even when only later re-extractions were stored
    assert p["sources"] == [
        {"session_id": "s1", "turn_ids": [2, 3], "turn_refs": ["t-2", "t-3"]},
        {"session_id": "s9", "turn_ids": [1], "turn_refs": []},
    ]
    assert p["channels"] == ["fts", "vector", "tree", "custom"]
    assert p["created_at"] == "2026-04-01T08:00:00.000Z"
    assert p["updated_at"] == "2026-04-02T09:30:00.123Z"


def test_provenance_lists_are_copies() -> None:
    cand = record_candidate()
    p = provenance_item(cand, 1)
    p["entities"].append("X")
    p["sources"][1]["turn_ids"].append(99)
    assert cand.item.entities == ["pg_dump", "S3"]
    assert cand.item.sources[0].turn_ids == [1]


def test_composite_provenance_item() -> None:
    p = provenance_item(composite_candidate(), 4)
    assert set(p) == PROVENANCE_FIELDS
    assert p["index"] == 4
    assert p["source"] == p["semantic_source_type"] == "composite"
    assert p["record_id"] == CID
    assert p["source_record_ids"] == [RID, "c" * 64]
    assert p["child_composite_ids"] == ["comp_" + "d" * 24]
    assert p["source_session_id"] is None
    assert p["source_turn_ids"] == [] and p["source_turn_refs"] == []
    assert len(p["sources"]) == 20
    assert p["sources"][0] == {"session_id": "s0", "turn_ids": [0], "turn_refs": ["r0"]}
    assert p["score_breakdown"] == {k: 0.5 for k in BREAKDOWN_KEYS}


def test_composite_leaves_fall_back_to_candidate_leaf_ids() -> None:
    cand = composite_candidate()
    cand.item.source_record_ids = []
    cand.leaf_ids = frozenset({"f" * 64, "e" * 64})
    assert provenance_item(cand, 1)["source_record_ids"] == ["e" * 64, "f" * 64]


def test_record_sources_are_capped() -> None:
    cand = record_candidate()
    cand.item.sources = [SourceRef(f"s{i}", [i]) for i in range(30)]
    cand.item.source_session_id = "s0"
    assert len(provenance_item(cand, 1)["sources"]) == 20


def test_constructed_context_format() -> None:
    items = provenance_items([record_candidate(), composite_candidate()])
    assert [p["index"] for p in items] == [1, 2]
    assert constructed_context(items) == (
        "[1] type=procedure source=record score=0.71 entities=pg_dump, S3\n"
        "Alice backs up Postgres nightly with pg_dump and uploads to S3.\n"
        "\n"
        "[2] type=usage_pattern source=composite score=0.50 entities=\n"
        "Backups: pg_dump nightly; restore drills monthly."
    )
    assert constructed_context([]) == ""


def test_novelty_context_one_line_per_item() -> None:
    comp = composite_candidate()
    comp.item.semantic_text = "Backups:\npg_dump nightly."
    items = provenance_items([record_candidate(), comp])
    assert novelty_context(items) == (
        "[1] (procedure, source=record) "
        "Alice backs up Postgres nightly with pg_dump and uploads to S3.\n"
        "[2] (usage_pattern, source=composite) Backups: pg_dump nightly."
    )


def test_semantic_result_wrapper_shape() -> None:
    items = provenance_items([record_candidate()])
    context = constructed_context(items)
    wrapper = semantic_result_wrapper(items, context)
    assert wrapper == {
        "anchor": {
            "node_id": "compact_context",
            "name": "CompactSemanticMemory",
            "label": "SemanticContext",
            "score": 1.0,
        },
        "subgraph": {"nodes": [], "edges": []},
        "constructed_context": context,
        "provenance": items,
    }
    assert semantic_results(items, context) == [wrapper]
    assert semantic_results([], "") == []
