"""POST /memory/feedback: explicit labels, errors, isolation."""

from __future__ import annotations

FACTS = ["To deploy the billing api, run docker compose up with the prod profile."]
QUERY = "How do I deploy the billing api with docker?"


def _search(client, headers) -> dict:
    client.post(
        "/memory/append-turn",
        json={"session_id": "s1", "role": "user", "content": FACTS[0]},
        headers=headers,
    )
    client.post(
        "/memory/consolidate", json={"session_id": "s1", "background": False}, headers=headers
    )
    body = client.post(
        "/memory/search", json={"query": QUERY, "session_id": "s1"}, headers=headers
    ).json()
    assert body["semantic_results"], body
    return body


def test_explicit_feedback_updates_counters(client, make_user) -> None:
    headers = make_user("alice")
    found = _search(client, headers)
    kept = [p["record_id"] for p in found["semantic_results"][0]["provenance"]]
    response = client.post(
        "/memory/feedback",
        json={"usage_log_id": found["usage_log_id"], "feedback": "negative", "note": "wrong port"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "status": "recorded",
        "usage_log_id": found["usage_log_id"],
        "outcome": "fail",
        "updated_ids": sorted(kept),
    }
    by_session = client.post(
        "/memory/feedback", json={"session_id": "s1", "feedback": "positive"}, headers=headers
    ).json()
    assert by_session["usage_log_id"] == found["usage_log_id"]
    assert by_session["outcome"] == "success"


def test_feedback_errors_and_isolation(client, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    found = _search(client, alice)
    record_id = found["semantic_results"][0]["provenance"][0]["record_id"]
    cases = [
        (
            bob,
            {"usage_log_id": found["usage_log_id"], "feedback": "positive"},
            404,
            "usage_log_not_found",
        ),
        (
            {},
            {"usage_log_id": found["usage_log_id"], "feedback": "positive"},
            404,
            "usage_log_not_found",
        ),
        (bob, {"record_ids": [record_id], "feedback": "positive"}, 404, "record_not_found"),
        (alice, {"session_id": "none-here", "feedback": "positive"}, 404, "usage_log_not_found"),
        (alice, {"feedback": "positive"}, 422, "validation_error"),
        (
            alice,
            {"usage_log_id": found["usage_log_id"], "feedback": "great"},
            422,
            "validation_error",
        ),
        (alice, {"record_ids": ["x"] * 51, "feedback": "positive"}, 422, "validation_error"),
        (
            alice,
            {"usage_log_id": found["usage_log_id"], "feedback": "positive", "note": "n" * 1001},
            422,
            "validation_error",
        ),
    ]
    for headers, body, status, code in cases:
        response = client.post("/memory/feedback", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    ok = client.post(
        "/memory/feedback", json={"record_ids": [record_id], "feedback": "positive"}, headers=alice
    ).json()
    assert ok["updated_ids"] == [record_id] and ok["usage_log_id"] is None
