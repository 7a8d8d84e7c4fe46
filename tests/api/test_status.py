"""``GET /pipeline/status`` counts and ``DELETE /memory/session/{id}?forget_memories``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from memory_support import (
    RELEASE_STEPS,
    SEAT_FACTS,
    all_items,
    build_tree,
    make_record,
    remember,
    store_items,
    user_id_of,
)

from lycheemem import __version__
from lycheemem.domain.models import SourceRef

ZERO_COUNTS = {
    "session_count": 0,
    "graph_node_count": 0,
    "graph_edge_count": 0,
    "skill_count": 0,
    "record_count": 0,
    "composite_count": 0,
    "expired_record_count": 0,
    "queued_jobs": 0,
    "running_jobs": 0,
    "failed_jobs": 0,
}


def _status(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get("/pipeline/status", headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def _add_jobs(client: TestClient, user_id: str, statuses: list[str]) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]

    def write(conn: Any) -> None:
        for n, status in enumerate(statuses):
            conn.execute(
                "INSERT INTO jobs (job_id, kind, user_id, session_id, status, not_before,"
                " created_at) VALUES (?, 'other', ?, ?, ?, '9999', '2026')",
                (f"{user_id}-{n}", user_id, f"s{n}", status),
            )

    client.portal.call(ctx.db.write, write)  # type: ignore[union-attr]


def _vector_ids(client: TestClient, table: str, ids: list[str]) -> set[str]:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    return set(client.portal.call(ctx.vectors.get_vectors, table, "", ids))  # type: ignore[union-attr]


def test_status_of_an_empty_namespace(client: TestClient) -> None:
    body = _status(client)
    assert {key: body[key] for key in ZERO_COUNTS} == ZERO_COUNTS
    assert body["mode"] == "memory_only" and body["llm_model"] is None
    assert body["embedding_model"] == "wordllama" and body["version"] == __version__


@pytest.mark.embedded_only  # plants job rows with SQL on the SQLite file
def test_status_counts_the_callers_memory(client: TestClient) -> None:
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    build_tree(client, "")
    store_items(client, [make_record("", "Retired fact.", expired=True)])
    _add_jobs(client, "", ["queued", "queued", "running", "failed", "done"])
    body = _status(client)
    assert body["session_count"] == 1 and body["skill_count"] == 1
    assert body["record_count"] == 10 and body["composite_count"] == 3
    assert body["graph_node_count"] == 13 and body["expired_record_count"] == 1
    # consolidation's composite has 2 leaves; the tree has mid->r1,r2 and top->mid,r3
    assert body["graph_edge_count"] == 6
    assert (body["queued_jobs"], body["running_jobs"], body["failed_jobs"]) == (2, 1, 1)


@pytest.mark.embedded_only  # plants job rows with SQL on the SQLite file
def test_status_is_per_tenant(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", SEAT_FACTS, headers=alice)
    _add_jobs(client, user_id_of(client, alice), ["failed"])
    assert _status(client, alice)["record_count"] == 5
    assert _status(client, alice)["failed_jobs"] == 1
    for headers in (bob, {}):
        body = _status(client, headers)
        assert {key: body[key] for key in ZERO_COUNTS} == ZERO_COUNTS


def test_forget_memories_deletes_what_only_that_session_taught(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    remember(client, "s2", ["Always run pg_dump before migrations.", "The CI runs on Fridays."])
    before = {i["semantic_text"]: i for i in all_items(client)}
    shared = before["Always run pg_dump before migrations."]
    assert {s["session_id"] for s in shared["sources"]} == {"s1", "s2"}
    composite = next(i for i in before.values() if i["kind"] == "composite")
    only_s1 = [
        i["record_id"]
        for i in before.values()
        if i["kind"] == "record" and {s["session_id"] for s in i["sources"]} == {"s1"}
    ]
    assert len(only_s1) == 4
    response = client.delete("/memory/session/s1", params={"forget_memories": True})
    assert response.status_code == 200
    body = response.json()
    assert body["turns_deleted"] == 5
    assert body["records_deleted"] == 4 and body["composites_deleted"] == 1
    after = {i["semantic_text"]: i for i in all_items(client, include_expired=True)}
    assert set(after) == {
        "Always run pg_dump before migrations.",
        "The CI runs on Fridays.",
    }
    kept = after["Always run pg_dump before migrations."]
    assert [s["session_id"] for s in kept["sources"]] == ["s2"]
    assert kept["source_session_id"] == "s2"
    assert all_items(client, session_id="s1") == []
    assert _vector_ids(client, "memory_records", only_s1) == set()
    assert _vector_ids(client, "composite_records", [composite["record_id"]]) == set()
    assert _vector_ids(client, "memory_records", [kept["record_id"]]) == {kept["record_id"]}


def test_deleting_a_session_without_forgetting_keeps_memories(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    body = client.delete("/memory/session/s1").json()
    assert body["records_deleted"] == 0 and body["composites_deleted"] == 0
    assert len(all_items(client)) == 6


def test_forgetting_covers_ancestors_and_other_tenants_are_untouched(
    client: TestClient, make_user: Any
) -> None:
    alice = make_user("alice")
    remember(client, "s1", SEAT_FACTS, headers=alice)
    client.post(
        "/memory/append-turn", json={"session_id": "s1", "role": "user", "content": "hello"}
    )
    tree = build_tree(client, "")
    elsewhere = make_record("", "The printer is on floor 3.", session_id="s9")
    elsewhere.sources = [SourceRef("s9", [0])]
    store_items(client, [elsewhere])
    body = client.delete("/memory/session/s1", params={"forget_memories": True}).json()
    assert body["records_deleted"] == 4 and body["composites_deleted"] == 2
    assert [i["record_id"] for i in all_items(client)] == [elsewhere.record_id]
    assert tree["top"].composite_id not in {i["record_id"] for i in all_items(client)}
    assert len(all_items(client, alice)) == 6
    missing = client.delete("/memory/session/s1", params={"forget_memories": True}, headers=alice)
    assert missing.status_code == 200
    assert all_items(client, alice) == []
