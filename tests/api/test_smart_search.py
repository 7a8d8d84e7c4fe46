"""POST /memory/smart-search: raw|full|compact modes, isolation, bad input."""

from __future__ import annotations

import pytest

FACTS = ["Alice prefers window seats on long flights.", "Alice's passport expires in May 2027."]
QUERY = "Which seats does Alice prefer on flights?"


def _seed(client, headers) -> None:
    for fact in FACTS:
        client.post(
            "/memory/append-turn",
            json={"session_id": "s1", "role": "user", "content": fact},
            headers=headers,
        )
    done = client.post(
        "/memory/consolidate", json={"session_id": "s1", "background": False}, headers=headers
    )
    assert done.json()["status"] == "done", done.text


def test_compact_mode_synthesizes_and_hides_raw_results(client, make_user) -> None:
    headers = make_user("alice")
    _seed(client, headers)
    body = client.post("/memory/smart-search", json={"query": QUERY}, headers=headers).json()
    assert body["mode"] == "compact" and body["synthesized"] is True
    assert "window seats" in body["background_context"]
    assert body["background_context"].startswith("[1] (")
    assert body["semantic_results"] == body["graph_results"] == body["skill_results"] == []
    assert "retrieval_plan" not in body and "action_state" not in body
    assert body["provenance"] and "relevance" in body["provenance"][0]
    assert "score_breakdown" in body["provenance"][0]
    assert body["kept_count"] == len(body["provenance"]) + len(body["skill_reuse_plan"])
    assert body["kept_count"] + body["dropped_count"] == body["total"]
    assert body["novelty_retrieved_context"].startswith("[1] (")
    assert body["usage_log_id"] and "synthesize" in body["timing_ms"]


def test_full_mode_returns_everything(client, make_user) -> None:
    headers = make_user("alice")
    _seed(client, headers)
    body = client.post(
        "/memory/smart-search", json={"query": QUERY, "mode": "full"}, headers=headers
    ).json()
    assert body["synthesized"] and body["semantic_results"]
    assert body["graph_results"] == body["semantic_results"]
    assert body["retrieval_plan"]["planner"] == "heuristic"
    assert body["action_state"]["current_subgoal"] == QUERY
    assert body["search_mode"] == "answer"


@pytest.mark.parametrize("request_extra", [{"mode": "raw"}, {"synthesize": False}])
def test_raw_or_unsynthesized_is_search_only(client, make_user, request_extra) -> None:
    headers = make_user("alice")
    _seed(client, headers)
    body = client.post(
        "/memory/smart-search", json={"query": QUERY, **request_extra}, headers=headers
    ).json()
    assert body["synthesized"] is False
    assert (body["background_context"], body["skill_reuse_plan"], body["provenance"]) == (
        "",
        [],
        [],
    )
    assert body["kept_count"] == body["dropped_count"] == 0
    assert body["semantic_results"] and body["novelty_retrieved_context"]


def test_smart_search_is_isolated(client, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    _seed(client, alice)
    for headers in (bob, {}):
        body = client.post(
            "/memory/smart-search", json={"query": QUERY, "mode": "full"}, headers=headers
        ).json()
        assert body["total"] == 0 and body["background_context"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"query": QUERY, "mode": "fancy"},
        {"query": ""},
        {"query": "x" * 1001},
        {"query": QUERY, "top_k": 0},
        {"query": QUERY, "session_id": "has space"},
    ],
)
def test_smart_search_bad_input(client, body) -> None:
    response = client.post("/memory/smart-search", json=body)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
