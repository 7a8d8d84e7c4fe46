"""``/memory/records``: listing, filters, detail with tree relations, hard delete, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from memory_support import (
    HOSTILE_QUERIES,
    SEAT_FACTS,
    all_items,
    build_tree,
    make_record,
    remember,
    store_items,
    user_id_of,
)


def _vectors(client: TestClient, table: str, user_id: str, ids: list[str]) -> dict[str, Any]:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    return client.portal.call(ctx.vectors.get_vectors, table, user_id, ids)  # type: ignore[union-attr]


def test_list_returns_records_and_composites_with_the_memory_item_shape(
    client: TestClient,
) -> None:
    remember(client, "s1", SEAT_FACTS)
    body = client.get("/memory/records").json()
    kinds = sorted(item["kind"] for item in body["items"])
    assert body["total"] == len(body["items"]) == 6
    assert kinds == ["composite"] + ["record"] * 5
    assert body["offset"] == 0 and body["limit"] == 50
    record = next(i for i in body["items"] if i["kind"] == "record")
    assert len(record["record_id"]) == 64 and record["source_session_id"] == "s1"
    assert record["sources"][0]["session_id"] == "s1" and "user_id" not in record
    for key in ("temporal", "task_tags", "version", "retrieval_count", "superseded_by"):
        assert key in record
    composite = next(i for i in body["items"] if i["kind"] == "composite")
    assert composite["composite_id"].startswith("comp_")
    assert composite["record_id"] == composite["composite_id"]
    assert composite["level"] == 1 and len(composite["source_record_ids"]) == 2


def test_filters_kind_type_session_and_text(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    remember(client, "s2", ["The staging database is PostgreSQL 16."])
    assert {i["kind"] for i in all_items(client, kind="composite")} == {"composite"}
    assert len(all_items(client, kind="record")) == 6
    prefs = all_items(client, memory_type="preference")
    assert prefs and all(i["memory_type"] == "preference" for i in prefs)
    only_s2 = all_items(client, session_id="s2")
    assert [i["semantic_text"] for i in only_s2] == ["The staging database is PostgreSQL 16."]
    found = all_items(client, q="pg_dump")
    assert [i["semantic_text"] for i in found] == ["Always run pg_dump before migrations."]
    assert all_items(client, q="the") == []  # only stopwords: nothing searchable


def test_order_and_pagination_report_the_overall_total(client: TestClient) -> None:
    uid = ""
    records = [
        make_record(uid, f"Fact number {n} about rivers.", created_at=f"2026-01-0{n}T00:00:00.000Z")
        for n in range(1, 6)
    ]
    store_items(client, records)
    oldest = client.get("/memory/records", params={"order": "created_asc", "limit": 2}).json()
    assert oldest["total"] == 5
    assert [i["semantic_text"] for i in oldest["items"]] == [
        "Fact number 1 about rivers.",
        "Fact number 2 about rivers.",
    ]
    newest = client.get("/memory/records", params={"order": "created_desc", "offset": 1}).json()
    assert newest["items"][0]["semantic_text"] == "Fact number 4 about rivers."
    assert len(newest["items"]) == 4 and newest["total"] == 5


def test_expired_items_are_hidden_unless_asked(client: TestClient) -> None:
    live = make_record("", "The deploy window is Friday.")
    old = make_record(
        "",
        "The deploy window is Thursday.",
        expired=True,
        expired_at="2026-03-02T00:00:00.000Z",
        expired_reason="conflict_merged",
        superseded_by=live.record_id,
    )
    store_items(client, [live, old])
    assert [i["semantic_text"] for i in all_items(client)] == ["The deploy window is Friday."]
    both = all_items(client, include_expired=True)
    expired = next(i for i in both if i["expired"])
    assert expired["superseded_by"] == live.record_id
    assert expired["expired_reason"] == "conflict_merged"


def test_detail_shows_parents_children_and_history(client: TestClient) -> None:
    tree = build_tree(client, "")
    mid, top, r1, r3 = tree["mid"], tree["top"], tree["r1"], tree["r3"]
    leaf = client.get(f"/memory/records/{r1.record_id}").json()
    assert leaf["kind"] == "record" and leaf["parents"] == [mid.composite_id]
    assert leaf["children"] is None and leaf["history"] == []
    assert client.get(f"/memory/records/{r3.record_id}").json()["parents"] == [top.composite_id]
    upper = client.get(f"/memory/records/{top.composite_id}").json()
    assert upper["parents"] == []
    assert upper["children"] == {
        "child_composite_ids": [mid.composite_id],
        "direct_record_ids": [r3.record_id],
    }
    assert client.get(f"/memory/records/{mid.composite_id}").json()["parents"] == [top.composite_id]
    history = [
        {
            "semantic_text": f"Old text {n}",
            "normalized_text": f"old text {n}",
            "replaced_at": "2026-02-01T00:00:00.000Z",
            "reason": "newer statement wins",
            "extra": "dropped",
        }
        for n in range(7)
    ]
    changed = make_record("", "The VPN endpoint is vpn2.example.com.", history=history, version=8)
    store_items(client, [changed])
    detail = client.get(f"/memory/records/{changed.record_id}").json()
    assert len(detail["history"]) == 5 and detail["version"] == 8
    assert detail["history"][0] == {
        "semantic_text": "Old text 0",
        "normalized_text": "old text 0",
        "replaced_at": "2026-02-01T00:00:00.000Z",
        "reason": "newer statement wins",
    }


def test_unknown_id_is_record_not_found(client: TestClient) -> None:
    for method in (client.get, client.delete):
        response = method("/memory/records/" + "0" * 64)
        assert response.status_code == 404
        assert response.json()["code"] == "record_not_found"


def test_delete_removes_item_vectors_and_covering_composites(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    composite = all_items(client, kind="composite")[0]
    victim, survivor = composite["source_record_ids"]
    assert _vectors(client, "memory_records", "", [victim])
    response = client.delete(f"/memory/records/{victim}")
    assert response.status_code == 200
    body = response.json()
    assert sorted(body["deleted_ids"]) == sorted([victim, composite["composite_id"]])
    assert body["deleted_count"] == 2
    remaining = {i["record_id"] for i in all_items(client, include_expired=True)}
    assert victim not in remaining and composite["composite_id"] not in remaining
    assert survivor in remaining
    assert _vectors(client, "memory_records", "", [victim]) == {}
    assert _vectors(client, "composite_records", "", [composite["composite_id"]]) == {}
    assert _vectors(client, "memory_records", "", [survivor])
    assert client.get(f"/memory/records/{survivor}").json()["parents"] == []
    assert client.delete(f"/memory/records/{victim}").status_code == 404


def test_deleting_a_leaf_deletes_every_ancestor_but_keeps_other_leaves(client: TestClient) -> None:
    tree = build_tree(client, "")
    body = client.delete(f"/memory/records/{tree['r1'].record_id}").json()
    assert set(body["deleted_ids"]) == {
        tree["r1"].record_id,
        tree["mid"].composite_id,
        tree["top"].composite_id,
    }
    left = {i["record_id"] for i in all_items(client)}
    assert left == {tree["r2"].record_id, tree["r3"].record_id, tree["r4"].record_id}


def test_deleting_a_composite_keeps_its_leaves(client: TestClient) -> None:
    tree = build_tree(client, "")
    body = client.delete(f"/memory/records/{tree['mid'].composite_id}").json()
    assert set(body["deleted_ids"]) == {tree["mid"].composite_id, tree["top"].composite_id}
    assert len(all_items(client, kind="record")) == 4


def test_other_tenants_cannot_see_or_delete_records(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", SEAT_FACTS, headers=alice)
    mine = all_items(client, alice)
    assert len(mine) == 6
    for headers in (bob, {}):
        assert all_items(client, headers) == []
        assert all_items(client, headers, q="window seats") == []
        for item in mine:
            path = f"/memory/records/{item['record_id']}"
            assert client.get(path, headers=headers).status_code == 404
            assert client.delete(path, headers=headers).status_code == 404
    assert len(all_items(client, alice)) == 6
    ids = [i["record_id"] for i in mine if i["kind"] == "record"]
    assert len(_vectors(client, "memory_records", user_id_of(client, alice), ids)) == 5


def test_anonymous_records_are_invisible_to_registered_users(
    client: TestClient, make_user: Any
) -> None:
    remember(client, "s1", SEAT_FACTS)
    bob = make_user("bob")
    assert all_items(client, bob) == []
    item = all_items(client)[0]
    assert client.delete(f"/memory/records/{item['record_id']}", headers=bob).status_code == 404
    assert len(all_items(client)) == 6


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_text_filters_never_fail(client: TestClient, q: str) -> None:
    store_items(client, [make_record("", "Window seats and NEAR operators (with quotes).")])
    response = client.get("/memory/records", params={"q": q})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == len(response.json()["items"])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"kind": "skill"},
        {"order": "random"},
        {"q": "x" * 201},
        {"session_id": "bad id"},
    ],
)
def test_invalid_query_parameters_are_rejected(client: TestClient, params: dict) -> None:
    response = client.get("/memory/records", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
