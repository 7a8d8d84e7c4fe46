"""Append-turn, session routes, isolation between tenants, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _append(client: TestClient, session_id: str, content: str, headers=None, **extra: Any):
    body = {"session_id": session_id, "role": "user", "content": content, **extra}
    return client.post("/memory/append-turn", json=body, headers=headers or {})


def test_append_and_read_back(client: TestClient) -> None:
    first = _append(
        client,
        "s1",
        "I prefer window seats.",
        turn_id="t-1",
        speaker="Alice",
        created_at="2026-03-14T09:30:00+02:00",
        metadata={"tool_name": "calendar"},
    )
    assert first.status_code == 200
    assert first.json() == {
        "status": "appended",
        "session_id": "s1",
        "turn_count": 1,
        "turn_index": 0,
        "turn_id": "t-1",
    }
    second = client.post(
        "/memory/append-turn", json={"session_id": "s1", "role": "assistant", "content": "Noted."}
    )
    assert second.json()["turn_index"] == 1
    session = client.get("/memory/session/s1").json()
    assert [t["role"] for t in session["turns"]] == ["user", "assistant"]
    turn = session["turns"][0]
    assert turn["created_at"] == "2026-03-14T07:30:00.000Z"
    assert turn["speaker"] == "Alice" and turn["metadata"] == {"tool_name": "calendar"}
    assert turn["token_count"] > 0 and session["wm_current_tokens"] > 0


def test_duplicate_turn_id_is_idempotent(client: TestClient) -> None:
    assert _append(client, "s1", "first", turn_id="x").json()["status"] == "appended"
    again = _append(client, "s1", "different text", turn_id="x").json()
    assert again["status"] == "duplicate" and again["turn_index"] == 0
    assert client.get("/memory/session/s1").json()["turn_count"] == 1


def test_secrets_are_redacted_before_storage(client: TestClient) -> None:
    _append(client, "s1", "my key is sk-abcdefghijklmnopqrstuvwxyz123456 ok")
    content = client.get("/memory/session/s1").json()["turns"][0]["content"]
    assert "sk-abcdefghijklmnop" not in content and "[REDACTED:" in content


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "s1", "role": "tool", "content": "x"},
        {"session_id": "s1", "role": "system", "content": "x"},
        {"session_id": "s1", "role": "user", "content": "   "},
        {"session_id": "has space", "role": "user", "content": "x"},
        {"session_id": "a/b", "role": "user", "content": "x"},
        {"session_id": "x" * 129, "role": "user", "content": "x"},
        {"session_id": "s1", "role": "user", "content": "x", "token_count": -1},
        {"session_id": "s1", "role": "user", "content": "x", "created_at": "yesterday"},
        {"session_id": "s1", "role": "user", "content": "x", "speaker": "s" * 65},
        {"session_id": "s1", "role": "user", "content": "x", "metadata": [1, 2]},
        {"role": "user", "content": "x"},
    ],
)
def test_append_turn_rejects_bad_input(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/memory/append-turn", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert client.get("/sessions").json()["total"] == 0


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/memory/append-turn", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_large_metadata_and_body_limits(client: TestClient) -> None:
    big_meta = {"blob": "x" * 17_000}
    assert _append(client, "s1", "x", metadata=big_meta).status_code == 413
    huge = "y" * 2_200_000
    response = _append(client, "s1", huge)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_chunked_body_over_limit_is_413(client: TestClient) -> None:
    def body():
        yield b'{"session_id":"s1","role":"user","content":"'
        for _ in range(40):
            yield b"z" * 60_000
        yield b'"}'

    response = client.post(
        "/memory/append-turn", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_unknown_session_is_404(client: TestClient) -> None:
    response = client.get("/memory/session/nope")
    assert response.status_code == 404 and response.json()["code"] == "session_not_found"
    assert client.delete("/memory/session/nope").status_code == 404


def test_list_sessions_paginates_with_total(client: TestClient) -> None:
    for index in range(5):
        _append(client, f"s{index}", f"hello number {index} from the user")
    page = client.get("/sessions", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 5 and len(page["sessions"]) == 2
    first = client.get("/sessions", params={"limit": 1}).json()["sessions"][0]
    assert first["session_id"] == "s4"
    assert first["title"] == "hello number 4 from the user" and first["turn_count"] == 1
    assert client.get("/sessions", params={"limit": 0}).status_code == 422


def test_patch_meta_creates_and_updates(client: TestClient) -> None:
    created = client.patch("/memory/session/new-one/meta", json={"topic": "Trip", "tags": ["a"]})
    assert created.status_code == 200 and created.json()["topic"] == "Trip"
    client.patch("/memory/session/new-one/meta", json={"tags": ["b", "c"]})
    listed = client.get("/sessions").json()["sessions"][0]
    assert listed["topic"] == "Trip" and listed["tags"] == ["b", "c"] and listed["title"] == "Trip"
    too_many = client.patch("/memory/session/new-one/meta", json={"tags": ["t"] * 21})
    assert too_many.status_code == 422


def test_delete_session(client: TestClient) -> None:
    _append(client, "s1", "one")
    _append(client, "s1", "two")
    deleted = client.delete("/memory/session/s1").json()
    assert deleted["turns_deleted"] == 2
    assert client.get("/memory/session/s1").status_code == 404
    assert _append(client, "s1", "fresh start").json()["turn_index"] == 0


def test_tenants_never_see_each_other(client: TestClient, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    _append(client, "shared", "Alice's secret plan", headers=alice)
    client.patch("/memory/session/alice-only/meta", json={"topic": "A"}, headers=alice)
    for other in (bob, {}):
        assert client.get("/sessions", headers=other).json()["total"] == 0
        assert client.get("/memory/session/shared", headers=other).status_code == 404
        assert client.delete("/memory/session/alice-only", headers=other).status_code == 404
    # the same session id under bob is a separate session
    assert _append(client, "shared", "Bob's note", headers=bob).json()["turn_index"] == 0
    client.patch("/memory/session/shared/meta", json={"topic": "Bob"}, headers=bob)
    alice_view = client.get("/memory/session/shared", headers=alice).json()
    assert [t["content"] for t in alice_view["turns"]] == ["Alice's secret plan"]
    assert alice_view["topic"] is None
    assert client.delete("/memory/session/shared", headers=bob).status_code == 200
    assert client.get("/memory/session/shared", headers=alice).status_code == 200
    # anonymous writes stay anonymous
    _append(client, "anon", "anonymous note")
    assert client.get("/sessions", headers=alice).json()["total"] == 2
    assert client.get("/sessions").json()["total"] == 1
