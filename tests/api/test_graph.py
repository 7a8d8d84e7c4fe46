"""``/memory/graph``: the memory tree in both modes, truncation, search, clear, isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from memory_support import (
    HOSTILE_QUERIES,
    RELEASE_STEPS,
    SEAT_FACTS,
    all_items,
    build_tree,
    make_record,
    remember,
    store_items,
    user_id_of,
)


def _graph(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> dict:
    response = client.get("/memory/graph", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    body = response.json()
    ids = {node["id"] for node in body["nodes"]}
    for edge in body["edges"]:
        assert edge["source"] in ids and edge["target"] in ids, edge
    assert set(body["tree_roots"]) <= ids
    return body


def _edges(body: dict) -> set[tuple[str, str, str]]:
    return {(e["source"], e["target"], e["relation"]) for e in body["edges"]}


def test_cleaned_graph_is_the_direct_tree(client: TestClient) -> None:
    t = build_tree(client, "")
    body = _graph(client)
    assert _edges(body) == {
        (t["top"].composite_id, t["mid"].composite_id, "child_composite"),
        (t["top"].composite_id, t["r3"].record_id, "composed_from"),
        (t["mid"].composite_id, t["r1"].record_id, "composed_from"),
        (t["mid"].composite_id, t["r2"].record_id, "composed_from"),
    }
    assert body["tree_roots"] == [t["top"].composite_id, t["r4"].record_id]
    assert body["stats"] == {"record_count": 4, "composite_count": 2}
    assert body["truncated"] is False
    top = next(n for n in body["nodes"] if n["id"] == t["top"].composite_id)
    assert top["node_kind"] == "composite" and top["level"] == 2
    assert top["label"] == "composite_pattern" and top["name"] == "Service topology"
    assert top["properties"]["child_composite_ids"] == [t["mid"].composite_id]
    assert set(top["properties"]["source_record_ids"]) == {
        t["r1"].record_id,
        t["r2"].record_id,
        t["r3"].record_id,
    }
    leaf = next(n for n in body["nodes"] if n["id"] == t["r4"].record_id)
    assert leaf["level"] == 0 and leaf["node_kind"] == "record"
    assert "source_record_ids" not in leaf["properties"]


def test_debug_graph_links_composites_to_all_leaves(client: TestClient) -> None:
    t = build_tree(client, "")
    body = _graph(client, mode="debug")
    top = t["top"].composite_id
    assert {(top, t[r].record_id, "composed_from") for r in ("r1", "r2", "r3")} <= _edges(body)
    assert (top, t["mid"].composite_id, "child_composite") in _edges(body)
    assert len(body["edges"]) == 6
    assert body["tree_roots"] == [top, t["r4"].record_id]


def test_limit_truncates_without_dangling_edges(client: TestClient) -> None:
    t = build_tree(client, "")
    body = _graph(client, limit=3)
    assert body["truncated"] is True and len(body["nodes"]) == 3
    assert [n["node_kind"] for n in body["nodes"]][:2] == ["composite", "composite"]
    assert body["stats"] == {"record_count": 4, "composite_count": 2}
    assert (t["top"].composite_id, t["mid"].composite_id, "child_composite") in _edges(body)
    only_one = _graph(client, limit=1, mode="debug")
    assert only_one["edges"] == [] and only_one["tree_roots"] == [t["top"].composite_id]


@pytest.mark.embedded_only  # expires a composite in place with SQL on the SQLite file
def test_expired_items_are_left_out_unless_asked(client: TestClient) -> None:
    t = build_tree(client, "")
    gone = make_record("", "The office coffee machine works again.", expired=True)
    store_items(client, [gone])
    ctx = client.app.state.ctx  # type: ignore[attr-defined]

    def expire_top(conn: Any) -> None:
        conn.execute(
            "UPDATE composite_records SET expired = 1 WHERE composite_id = ?",
            (t["top"].composite_id,),
        )

    client.portal.call(ctx.db.write, expire_top)  # type: ignore[union-attr]
    body = _graph(client)
    ids = {node["id"] for node in body["nodes"]}
    assert t["top"].composite_id not in ids and gone.record_id not in ids
    assert set(body["tree_roots"]) == {
        t["mid"].composite_id,
        t["r3"].record_id,
        t["r4"].record_id,
    }
    everything = _graph(client, include_expired=True)
    assert len(everything["nodes"]) == 7
    assert everything["stats"] == {"record_count": 5, "composite_count": 2}


def test_graph_from_consolidation_has_every_leaf_reachable(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    body = _graph(client)
    assert body["stats"] == {"record_count": 5, "composite_count": 1}
    composite = next(n for n in body["nodes"] if n["node_kind"] == "composite")
    targets = {e["target"] for e in body["edges"] if e["source"] == composite["id"]}
    assert targets == set(composite["properties"]["source_record_ids"])
    assert len(body["tree_roots"]) == 4


def test_search_returns_anchor_nodes(client: TestClient) -> None:
    build_tree(client, "")
    response = client.get("/memory/graph/search", params={"q": "Alpha service port"})
    assert response.status_code == 200
    body = response.json()
    assert body["edges"] == [] and body["nodes"]
    assert all(node["properties"]["is_anchor"] is True for node in body["nodes"])
    texts = [node["properties"]["semantic_text"] for node in body["nodes"]]
    assert "Alpha service runs on port 8080." in texts
    assert "The office coffee machine is broken." not in texts
    limited = client.get("/memory/graph/search", params={"q": "Alpha", "top_k": 1}).json()
    assert len(limited["nodes"]) == 1


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_search_text_never_fails(client: TestClient, q: str) -> None:
    build_tree(client, "")
    response = client.get("/memory/graph/search", params={"q": q})
    assert response.status_code in (200, 422), response.text
    if q.strip():
        assert response.status_code == 200


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 201}, {"q": "a", "top_k": 0}])
def test_search_validates_its_parameters(client: TestClient, params: dict) -> None:
    assert client.get("/memory/graph/search", params=params).status_code == 422


def test_graph_parameters_are_validated(client: TestClient) -> None:
    assert client.get("/memory/graph", params={"mode": "full"}).status_code == 422
    assert client.get("/memory/graph", params={"limit": 10_001}).status_code == 422


def test_clear_deletes_semantic_memory_but_keeps_skills_and_sessions(client: TestClient) -> None:
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    client.post("/memory/search", json={"query": "window seats"})
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ids = [i["record_id"] for i in all_items(client, kind="record")]
    response = client.delete("/memory/graph/clear")
    assert response.status_code == 200
    body = response.json()
    assert body["records_deleted"] == len(ids) and body["composites_deleted"] == 1
    assert body["usage_logs_deleted"] >= 1
    assert all_items(client, include_expired=True) == []
    assert client.portal.call(ctx.vectors.count, "memory_records", "") == 0  # type: ignore[union-attr]
    assert client.portal.call(ctx.vectors.count, "composite_records", "") == 0  # type: ignore[union-attr]
    assert client.get("/memory/skills").json()["total"] == 1
    assert client.get("/memory/session/s1").status_code == 200
    assert _graph(client)["nodes"] == []


def test_graph_is_per_tenant(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    build_tree(client, user_id_of(client, alice))
    remember(client, "s1", SEAT_FACTS, headers=bob)
    assert len(_graph(client, alice)["nodes"]) == 6
    assert _graph(client)["nodes"] == []
    bob_graph = _graph(client, bob)
    assert {n["properties"]["semantic_text"] for n in bob_graph["nodes"]}.isdisjoint(
        {"Service topology", "Alpha service setup"}
    )
    found = client.get("/memory/graph/search", params={"q": "Alpha service"}, headers=bob).json()
    assert found["nodes"] == []
    assert client.delete("/memory/graph/clear", headers=bob).json()["records_deleted"] == 5
    assert client.delete("/memory/graph/clear").json()["records_deleted"] == 0
    assert len(_graph(client, alice)["nodes"]) == 6
