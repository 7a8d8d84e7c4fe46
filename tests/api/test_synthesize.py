"""POST /memory/synthesize: threshold selection over client results, judge mode, bad input."""

from __future__ import annotations

from pipeline_support import app_client

from lycheemem.testing import ScriptedLLM

WRAPPER = {
    "constructed_context": "",
    "provenance": [
        {
            "index": 1,
            "record_id": "a",
            "source": "record",
            "memory_type": "preference",
            "semantic_text": "Alice prefers window seats on long flights",
            "score": 0.4,
            "source_session_id": "s9",
            "source_turn_ids": [2],
        },
        {
            "index": 2,
            "record_id": "b",
            "source": "record",
            "memory_type": "fact",
            "semantic_text": "The quarterly budget meeting moved to Tuesday",
            "score": 0.9,
        },
    ],
}
SKILL = {
    "id": "k1",
    "skill_id": "k1",
    "intent": "Book a flight",
    "doc_markdown": "1. a",
    "score": 0.9,
    "reusable": True,
    "conditions": "",
}


def test_threshold_synthesis_of_client_results(client) -> None:
    body = client.post(
        "/memory/synthesize",
        json={
            "user_query": "which seats does Alice prefer on flights",
            "semantic_results": [WRAPPER],
            "skill_results": [SKILL],
        },
    ).json()
    assert set(body) == {
        "background_context",
        "skill_reuse_plan",
        "provenance",
        "kept_count",
        "dropped_count",
    }
    assert body["background_context"].startswith("[1] (preference; ")
    assert "session s9 turn 2" in body["background_context"]
    assert "budget" not in body["background_context"]
    assert [p["source"] for p in body["provenance"]] == ["semantic", "skill"]
    assert body["provenance"][0]["record_id"] == "a"
    assert body["skill_reuse_plan"][0]["skill_id"] == "k1"
    assert body["kept_count"] + body["dropped_count"] == 3


def test_graph_results_alias_and_empty_input(client) -> None:
    body = client.post(
        "/memory/synthesize",
        json={"user_query": "which seats does Alice prefer", "graph_results": [WRAPPER]},
    ).json()
    assert body["kept_count"] == 1
    empty = client.post("/memory/synthesize", json={"user_query": "anything"}).json()
    assert empty == {
        "background_context": "",
        "skill_reuse_plan": [],
        "provenance": [],
        "kept_count": 0,
        "dropped_count": 0,
    }


def test_judge_mode_uses_one_call_and_code_threshold(tmp_path) -> None:
    llm = ScriptedLLM(
        [
            {
                "scores": [{"index": 1, "relevance": 0.61}, {"index": 2, "relevance": 0.6}],
                "background_context": "",
            }
        ]
    )
    with app_client(tmp_path, llm=llm, synth_judge="llm", synth_judge_threshold=0.61) as client:
        body = client.post(
            "/memory/synthesize", json={"user_query": "seats", "semantic_results": [WRAPPER]}
        ).json()
    assert llm.purposes() == ["judge"]
    assert [p["record_id"] for p in body["provenance"]] == ["a"]
    assert (body["kept_count"], body["dropped_count"]) == (1, 1)


def test_synthesize_bad_input(client) -> None:
    for body in (
        {"user_query": ""},
        {"semantic_results": []},
        {"user_query": "q", "semantic_results": "nope"},
    ):
        response = client.post("/memory/synthesize", json=body)
        assert response.status_code == 422
