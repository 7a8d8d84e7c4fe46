"""``/memory/export``, ``/memory/import`` and ``/memory/all``."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from memory_support import (
    RELEASE_STEPS,
    SEAT_FACTS,
    all_items,
    build_tree,
    remember,
    user_id_of,
)

from lycheemem.domain.text.terms import composite_id_for, record_id_for
from lycheemem.services.transfer import MemoryTransfer

# Reaches into the embedded SQLite file to plant rows; the routes it proves are the same
# code on PostgreSQL (covered by the storage contract suites there).
pytestmark = pytest.mark.embedded_only

HEADER = {"type": "header", "format": "lycheemem.export", "version": 1}


def _export(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> list:
    response = client.get("/memory/export", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


def _import(
    client: TestClient, lines: list[dict] | bytes, headers: dict | None = None, **params: Any
) -> Any:
    body = lines if isinstance(lines, bytes) else _jsonl(lines)
    return client.post(
        "/memory/import",
        content=body,
        params=params,
        headers={"Content-Type": "application/x-ndjson", **(headers or {})},
    )


def _tree_shape(items: list[dict]) -> set[tuple]:
    """Items compared by content: ids replaced by the texts they point to."""
    text = {item["record_id"]: item["semantic_text"] for item in items}
    shape = set()
    for item in items:
        members = tuple(sorted(text[i] for i in item.get("source_record_ids", [])))
        children = tuple(sorted(text[i] for i in item.get("child_composite_ids", [])))
        sources = json.dumps(item["sources"], sort_keys=True)
        shape.add((item["kind"], item["memory_type"], item["semantic_text"], members, children,
                   sources, item["created_at"], item.get("level", 0)))  # fmt: skip
    return shape


def _provenance(client: TestClient, headers: dict, query: str) -> list[tuple[str, str]]:
    body = client.post("/memory/search", json={"query": query, "top_k": 5}, headers=headers).json()
    items = body["semantic_results"][0]["provenance"] if body["semantic_results"] else []
    return [(p["memory_type"], p["semantic_text"]) for p in items]


def test_export_lines_come_in_the_documented_order(client: TestClient) -> None:
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    build_tree(client, "")
    client.post("/memory/search", json={"query": "window seats", "session_id": "s1"})
    response = client.get(
        "/memory/export", params={"include_sessions": True, "include_usage_logs": True}
    )
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="lycheemem-export-')
    assert disposition.endswith('.jsonl"')
    lines = [json.loads(line) for line in response.text.splitlines()]
    header = lines[0]
    assert {k: header[k] for k in HEADER} == HEADER
    assert header["embedding_model"] == "wordllama" and header["exported_at"].endswith("Z")
    types = [line["type"] for line in lines[1:]]
    order = ["record", "composite", "skill", "session", "turn", "usage_log"]
    assert sorted(set(types), key=order.index) == order
    assert types == sorted(types, key=order.index)
    levels = [line["level"] for line in lines if line["type"] == "composite"]
    assert levels == sorted(levels) and levels[-1] == 2
    counts = header["counts"]
    assert counts["records"] == types.count("record") == 10
    assert counts["turns"] == types.count("turn") == 6
    assert counts["usage_logs"] == types.count("usage_log") >= 1
    for line in lines:
        text = json.dumps(line)
        assert "user_id" not in line and "vector" not in text and 'embedding"' not in text


def test_export_leaves_out_sessions_and_logs_by_default(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    lines = _export(client)
    assert {line["type"] for line in lines} == {"header", "record", "composite"}
    assert set(lines[0]["counts"]) == {"records", "composites", "skills"}


def test_round_trip_into_another_user_recomputes_ids(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS], headers=alice)
    build_tree(client, user_id_of(client, alice))
    exported = _export(client, alice, include_sessions=True)
    response = _import(client, exported, bob)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["errors"] == [] and report["skipped"] == 0
    assert report["imported"] == {
        "records": 10,
        "composites": 3,
        "skills": 1,
        "sessions": 1,
        "turns": 6,
        "summaries": 0,
        "usage_logs": 0,
    }
    source, copied = all_items(client, alice), all_items(client, bob)
    assert _tree_shape(source) == _tree_shape(copied)
    bob_id = user_id_of(client, bob)
    assert {i["record_id"] for i in source}.isdisjoint({i["record_id"] for i in copied})
    for item in copied:
        if item["kind"] == "record":
            assert item["record_id"] == record_id_for(bob_id, item["normalized_text"])
    top = next(i for i in copied if i["kind"] == "composite" and i["level"] == 2)
    direct = client.get(f"/memory/records/{top['record_id']}", headers=bob).json()["children"]
    assert top["record_id"] == composite_id_for(
        bob_id, [*direct["direct_record_ids"], *direct["child_composite_ids"]]
    )
    skills = client.get("/memory/skills", headers=bob).json()["skills"]
    assert [s["intent"] for s in skills] == ["How to release"]
    turns = client.get("/memory/session/s1", headers=bob).json()["turns"]
    assert [t["content"] for t in turns][:2] == SEAT_FACTS[:2]
    for query in ("window seats", "how do I release with twine", "Alpha service port"):
        assert _provenance(client, alice, query) == _provenance(client, bob, query)
    assert _provenance(client, bob, "window seats")


def test_importing_the_same_export_twice_is_idempotent(client: TestClient) -> None:
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    exported = _export(client, include_sessions=True)
    before = _tree_shape(all_items(client))
    report = _import(client, exported).json()
    assert report["imported"]["records"] == 6 and report["imported"]["turns"] == 0
    assert report["skipped"] == 6  # every turn index already exists
    after = all_items(client)
    assert _tree_shape(after) == before and len(after) == 7
    assert client.get("/memory/skills").json()["total"] == 1


def test_merge_unions_sources_and_keeps_larger_counters(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS[:1])
    exported = _export(client)
    record = next(line for line in exported if line["type"] == "record")
    record["sources"] = [{"session_id": "elsewhere", "turn_ids": [4], "turn_refs": ["t-4"]}]
    record["retrieval_count"] = 7
    report = _import(client, [exported[0], record]).json()
    assert report["imported"]["records"] == 1
    merged = all_items(client, kind="record")
    assert len(merged) == 1
    assert {s["session_id"] for s in merged[0]["sources"]} == {"s1", "elsewhere"}
    assert merged[0]["retrieval_count"] == 7
    assert [i["record_id"] for i in all_items(client, session_id="elsewhere")] == [
        merged[0]["record_id"]
    ]


def test_replace_mode_wipes_the_namespace_first(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    exported = _export(client)
    remember(client, "s2", ["The staging database is PostgreSQL 16."])
    report = _import(client, exported, mode="replace").json()
    assert report["imported"]["records"] == 5
    texts = {i["semantic_text"] for i in all_items(client)}
    assert "The staging database is PostgreSQL 16." not in texts
    assert client.get("/memory/session/s2").status_code == 404


def test_superseded_by_and_turns_are_remapped_and_merged(
    client: TestClient, make_user: Any
) -> None:
    bob = make_user("bob")
    client.post(
        "/memory/append-turn",
        json={"session_id": "s1", "role": "user", "content": "bob's own first turn"},
        headers=bob,
    )
    lines = [
        HEADER,
        {"type": "record", "record_id": "new", "memory_type": "fact",
         "semantic_text": "The deploy window is Friday."},
        {"type": "record", "record_id": "old", "memory_type": "fact",
         "semantic_text": "The deploy window is Thursday.", "expired": True,
         "expired_reason": "conflict_merged", "superseded_by": "new"},
        {"type": "record", "record_id": "orphan", "memory_type": "fact",
         "semantic_text": "The old server was retired.", "superseded_by": "missing"},
        {"type": "session", "session_id": "s1", "topic": "deploys", "tags": ["ops"]},
        {"type": "turn", "session_id": "s1", "turn_index": 0, "role": "user", "content": "dup"},
        {"type": "turn", "session_id": "s1", "turn_index": 1, "role": "assistant",
         "content": "imported reply", "turn_id": "x-1", "created_at": "2026-03-01T10:00:00+02:00"},
        {"type": "summary", "session_id": "s1", "boundary_index": 1, "content": "Deploy talk."},
    ]  # fmt: skip
    report = _import(client, lines, bob).json()
    assert report["errors"] == [] and report["skipped"] == 1
    assert report["imported"]["turns"] == 1 and report["imported"]["summaries"] == 1
    items = {i["semantic_text"]: i for i in all_items(client, bob, include_expired=True)}
    new_id = items["The deploy window is Friday."]["record_id"]
    assert items["The deploy window is Thursday."]["superseded_by"] == new_id
    assert items["The old server was retired."]["superseded_by"] is None
    session = client.get("/memory/session/s1", headers=bob).json()
    assert session["topic"] == "deploys" and session["turn_count"] == 2
    assert [t["content"] for t in session["turns"]] == ["bob's own first turn", "imported reply"]
    assert session["turns"][1]["created_at"] == "2026-03-01T08:00:00.000Z"
    assert session["summaries"][0]["content"] == "Deploy talk."
    appended = client.post(
        "/memory/append-turn",
        json={"session_id": "s1", "role": "user", "content": "after import"},
        headers=bob,
    ).json()
    assert appended["turn_index"] == 2


def test_skill_ids_are_kept_unless_another_tenant_uses_them(
    client: TestClient, make_user: Any
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", [RELEASE_STEPS], headers=alice)
    exported = _export(client, alice)
    skill_id = next(line["skill_id"] for line in exported if line["type"] == "skill")
    _import(client, exported, bob)
    bob_skill = client.get("/memory/skills", headers=bob).json()["skills"][0]["skill_id"]
    assert bob_skill != skill_id
    alice_skills = client.get("/memory/skills", headers=alice).json()["skills"]
    assert [(s["skill_id"], s["intent"]) for s in alice_skills] == [(skill_id, "How to release")]
    client.delete(f"/memory/skills/{skill_id}", headers=alice)
    _import(client, exported)
    anon_skill = client.get("/memory/skills").json()["skills"][0]["skill_id"]
    assert anon_skill == skill_id


def test_bad_lines_are_reported_and_the_rest_imported(client: TestClient) -> None:
    body = b"\n".join(
        [
            json.dumps(HEADER).encode(),
            json.dumps(
                {"type": "record", "memory_type": "fact", "semantic_text": "Kept."}
            ).encode(),
            b"{not json",
            json.dumps({"type": "mystery"}).encode(),
            json.dumps({"type": "record", "memory_type": "gossip", "semantic_text": "x"}).encode(),
            json.dumps({"type": "record", "memory_type": "fact", "semantic_text": ""}).encode(),
            json.dumps(
                {
                    "type": "composite",
                    "memory_type": "composite_pattern",
                    "semantic_text": "Dangling.",
                    "source_record_ids": ["nope"],
                }
            ).encode(),  # fmt: skip
            json.dumps({"type": "turn", "session_id": "bad id", "turn_index": 0}).encode(),
            b"[1, 2]",
            b"",
        ]
    )
    response = _import(client, body)
    assert response.status_code == 200
    report = response.json()
    assert report["imported"]["records"] == 1 and report["skipped"] == 7
    assert [e["line"] for e in report["errors"]] == [3, 4, 5, 6, 7, 8, 9]
    assert "gossip" in report["errors"][2]["error"]
    assert [i["semantic_text"] for i in all_items(client)] == ["Kept."]


def test_missing_or_unknown_header_is_a_bad_request(client: TestClient) -> None:
    record = {"type": "record", "memory_type": "fact", "semantic_text": "Never stored."}
    bodies = [
        b"",
        b"\n\n",
        _jsonl([record]),
        _jsonl([{**HEADER, "format": "other"}, record]),
        _jsonl([{**HEADER, "version": 2}, record]),
        b"garbage\n" + _jsonl([record]),
    ]
    for body in bodies:
        response = _import(client, body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "bad_request"
    assert all_items(client) == []


def test_a_bad_header_in_replace_mode_deletes_nothing(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    assert _import(client, b"nonsense\n", mode="replace").status_code == 400
    assert len(all_items(client)) == 6


def test_exports_are_per_tenant(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS], headers=alice)
    for headers in (bob, {}):
        lines = _export(client, headers, include_sessions=True, include_usage_logs=True)
        assert [line["type"] for line in lines] == ["header"]
        assert set(lines[0]["counts"].values()) == {0}


def test_delete_all_requires_confirmation(client: TestClient) -> None:
    remember(client, "s1", SEAT_FACTS)
    for params in ({}, {"confirm": "false"}):
        response = client.delete("/memory/all", params=params)
        assert response.status_code == 400 and response.json()["code"] == "bad_request"
    assert len(all_items(client)) == 6


def test_delete_all_removes_only_the_callers_data(client: TestClient, make_user: Any) -> None:
    alice = make_user("alice")
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS], headers=alice)
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    client.post("/memory/search", json={"query": "window seats", "session_id": "s1"})
    ctx = client.app.state.ctx  # type: ignore[attr-defined]

    def add_jobs(conn: Any) -> None:
        for job_id, status in (("j-run", "running"), ("j-fail", "failed")):
            conn.execute(
                "INSERT INTO jobs (job_id, kind, user_id, session_id, status, not_before,"
                " created_at) VALUES (?, 'consolidate', '', 's1', ?, '2026', '2026')",
                (job_id, status),
            )

    client.portal.call(ctx.db.write, add_jobs)  # type: ignore[union-attr]
    response = client.delete("/memory/all", params={"confirm": True})
    assert response.status_code == 200
    deleted = response.json()["deleted"]
    assert deleted["records"] == 6 and deleted["composites"] == 1 and deleted["skills"] == 1
    assert deleted["sessions"] == 1 and deleted["turns"] == 6 and deleted["usage_logs"] >= 1
    assert deleted["jobs"] >= 2
    assert all_items(client, include_expired=True) == []
    assert client.get("/sessions").json()["total"] == 0
    assert client.get("/memory/skills").json()["total"] == 0

    def jobs(conn: Any) -> list[tuple]:
        rows = conn.execute("SELECT job_id, cancel_requested FROM jobs WHERE user_id = ''")
        return [tuple(row) for row in rows]

    assert client.portal.call(ctx.db.read, jobs) == [("j-run", 1)]  # type: ignore[union-attr]
    for table in ("memory_records", "composite_records", "skills"):
        assert client.portal.call(ctx.vectors.count, table, "") == 0  # type: ignore[union-attr]
    alice_id = user_id_of(client, alice)
    assert len(all_items(client, alice)) == 7
    assert client.portal.call(ctx.vectors.count, "memory_records", alice_id) == 6  # type: ignore[union-attr]
    assert client.get("/memory/skills", headers=alice).json()["total"] == 1
    assert _provenance(client, alice, "window seats")


def test_imports_cannot_reach_into_another_namespace(client: TestClient, make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    remember(client, "s1", SEAT_FACTS, headers=alice)
    theirs = all_items(client, alice)
    leaves = [i["record_id"] for i in theirs if i["kind"] == "record"][:2]
    lines = [
        HEADER,
        {"type": "composite", "memory_type": "composite_pattern", "semantic_text": "Hijack.",
         "source_record_ids": leaves},
        {"type": "record", "record_id": leaves[0], "memory_type": "fact",
         "semantic_text": "Overwritten?", "superseded_by": leaves[1]},
    ]  # fmt: skip
    report = _import(client, lines, bob).json()
    assert report["imported"]["records"] == 1 and report["imported"]["composites"] == 0
    assert "missing from the import" in report["errors"][0]["error"]
    copied = all_items(client, bob, include_expired=True)
    assert [i["semantic_text"] for i in copied] == ["Overwritten?"]
    assert copied[0]["record_id"] not in leaves and copied[0]["superseded_by"] is None
    assert all_items(client, alice) == theirs


def test_small_pages_and_batches_give_the_same_result(client: TestClient, make_user: Any) -> None:
    remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
    build_tree(client, "")
    client.post("/memory/search", json={"query": "window seats", "session_id": "s1"})
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    default = ctx.manage.transfer
    small = MemoryTransfer(
        store=default.store,
        semantic=default.semantic,
        vectors=ctx.vectors,
        embedder=ctx.embedder,
        clock=ctx.clock,
        embed_batch=3,
        page_size=2,
    )

    async def collect(transfer: MemoryTransfer) -> list[dict]:
        lines = transfer.export_lines(user_id="", include_sessions=True, include_usage_logs=True)
        return [json.loads(line) async for line in lines][1:]

    paged = client.portal.call(collect, small)  # type: ignore[union-attr]
    assert paged == client.portal.call(collect, default)  # type: ignore[union-attr]
    assert len(paged) > 2 * 2 * 3
    bob_id = user_id_of(client, make_user("bob"))
    parsed = small.parse(_jsonl([HEADER, *paged]))
    run = partial(small.import_lines, user_id=bob_id, lines=parsed)
    report = client.portal.call(run)  # type: ignore[union-attr]
    assert report.errors == [] and report.imported["records"] == 10
    assert client.portal.call(ctx.vectors.count, "memory_records", bob_id) == 10  # type: ignore[union-attr]
    assert client.portal.call(ctx.vectors.count, "composite_records", bob_id) == 3  # type: ignore[union-attr]


def test_import_body_is_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/memory/import"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert "application/x-ndjson" in body["content"]
    assert '"format":"lycheemem.export"' in body["content"]["application/x-ndjson"]["example"]
    assert '"type": "header"' in body["description"] and "GET /memory/export" in body["description"]
    assert {p["name"] for p in operation["parameters"]} == {"mode"}


def test_an_import_over_the_server_wide_limit_gets_429_before_its_body_is_read(
    tmp_path: Any,
) -> None:
    from lycheemem.app import create_app
    from lycheemem.testing import make_test_settings

    settings = make_test_settings(tmp_path, max_concurrent_imports=1)
    line = {"type": "record", "memory_type": "fact", "semantic_text": "Ines lives in Porto."}
    with TestClient(create_app(settings)) as client:
        manage = client.app.state.ctx.manage  # type: ignore[attr-defined]
        with manage.import_admission():  # another import is running
            refused = _import(client, [HEADER, line])
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["code"] == "rate_limited"
        assert "imports are already running" in refused.json()["detail"]
        assert _import(client, [HEADER, line]).status_code == 200  # the slot came back


def test_a_large_import_is_written_in_several_transactions_and_lands_whole(
    client: TestClient,
) -> None:
    from lycheemem.services.transfer.import_ import IMPORT_WRITE_CHUNK

    count = 2 * IMPORT_WRITE_CHUNK + 7
    lines = [
        {"type": "record", "memory_type": "fact", "semantic_text": f"Server rack {n} is in hall B."}
        for n in range(count - 1)
    ]
    unique = "The backup generator is tested every Monday."
    lines.append({"type": "record", "memory_type": "fact", "semantic_text": unique})
    db = client.app.state.ctx.db  # type: ignore[attr-defined]
    before = db.generation
    report = _import(client, [HEADER, *lines]).json()
    assert report["imported"]["records"] == count and report["errors"] == []
    # One committed write per chunk of records (plus the vectors' indexed mark).
    assert db.generation - before >= 3
    exported = [line for line in _export(client) if line["type"] == "record"]
    assert len(exported) == count
    found = client.post("/memory/search", json={"query": "backup generator", "top_k": 3}).json()
    assert unique in json.dumps(found)  # the last chunk has its vectors too
