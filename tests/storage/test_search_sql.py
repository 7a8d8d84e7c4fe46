"""Search-path SQL: ranked FTS with filters, tenant-scoped fetches, cached term statistics."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lycheemem.domain.models import MemoryRecord
from lycheemem.domain.text.terms import build_fts_query, fts_owner, record_id_for
from lycheemem.storage.sqlite import record_search
from lycheemem.storage.sqlite import records as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio

NOW = "2026-03-01T10:00:00.000Z"


def _record(user_id: str, text: str, **fields: Any) -> MemoryRecord:
    return make_record(user_id, text, created_at=NOW, **fields)


async def _open(tmp_path: Path) -> Database:
    db = Database(tmp_path / "x.db")
    await db.open()
    return db


async def _save(db: Database, records: Sequence[MemoryRecord]) -> None:
    def write(conn: sqlite3.Connection) -> None:
        for record in records:
            sql.save_record(conn, record)

    await db.write(write)


def _join_then_rank(
    conn: sqlite3.Connection,
    user_id: str,
    match: str,
    limit: int,
    memory_types: Sequence[str] | None = None,
) -> list[str]:
    """The reference result: filter every match, then order by (bm25, rowid)."""
    types = ""
    params: list[Any] = [match, user_id]
    if memory_types:
        types = f" AND t.memory_type IN ({sql.placeholders(len(memory_types))})"
        params.extend(memory_types)
    rows = conn.execute(
        "SELECT t.record_id FROM memory_records_fts f JOIN memory_records t ON t.id = f.rowid"
        f" WHERE memory_records_fts MATCH ? AND t.user_id = ? AND t.expired = 0{types}"
        " ORDER BY bm25(memory_records_fts, 1.0, 0.5, 0.0), f.rowid LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [row[0] for row in rows]


async def _corpus(db: Database) -> None:
    """Alice's records: best matches expired or of the wrong type; Bob's share the words."""
    records = [
        # Short texts rank first for "deploy"; all expired, so the first batch finds none.
        *[_record("alice", f"deploy {i}", expired=True) for i in range(12)],
        *[_record("alice", f"we deploy service number {i} on fridays") for i in range(15)],
        *[
            _record("alice", f"to deploy release {i} run the pipeline", memory_type="procedure")
            for i in range(3)
        ],
        *[_record("bob", f"deploy {i}") for i in range(20)],
    ]
    await _save(db, records)


async def test_fts_search_equals_filtering_every_match_first(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    await _corpus(db)
    match = build_fts_query("deploy", fts_owner("alice"))
    assert match is not None

    def check(conn: sqlite3.Connection) -> None:
        for limit in (1, 2, 5, 17, 40):
            for types in (None, ["procedure"], ["procedure", "constraint"]):
                hits = record_search.fts_search(
                    conn,
                    table="memory_records",
                    user_id="alice",
                    match=match,
                    limit=limit,
                    memory_types=types,
                )
                expected = _join_then_rank(conn, "alice", match, limit, types)
                assert [h.item_id for h in hits] == expected
                assert [h.rank for h in hits] == list(range(len(expected)))

    await db.read(check)
    await db.close()


async def test_fts_search_newest_first_takes_the_latest_active_matches_of_the_caller(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    await _corpus(db)
    match = build_fts_query("deploy", None)
    assert match is not None
    hits = await db.read(
        lambda conn: record_search.fts_search(
            conn, table="memory_records", user_id="alice", match=match, limit=4, newest_first=True
        )
    )
    # Bob's rows were written last and Alice's expired ones first: neither may appear.
    newest = [f"to deploy release {i} run the pipeline" for i in (2, 1, 0)]
    newest.append("we deploy service number 14 on fridays")
    assert [h.item_id for h in hits] == [record_id_for("alice", text) for text in newest]
    await db.close()


async def test_a_crowded_query_ranks_records_matching_every_term_then_the_newest(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    await _corpus(db)
    store = SqliteSemanticStore(db)
    hits = await store.fts(
        "alice", "deploy pipeline", table="memory_records", limit=5, crowded=True
    )
    both = [f"to deploy release {i} run the pipeline" for i in range(3)]  # BM25 ties: rowid order
    newest = [f"we deploy service number {i} on fridays" for i in (14, 13)]
    assert [h.item_id for h in hits] == [record_id_for("alice", text) for text in both + newest]
    assert [h.rank for h in hits] == list(range(5))
    # Not crowded: plain BM25 over the OR of the terms, the same records first here.
    plain = await store.fts("alice", "deploy pipeline", table="memory_records", limit=5)
    assert [h.item_id for h in plain][:3] == [h.item_id for h in hits][:3]
    await db.close()


async def test_fts_search_skips_expired_and_other_types_and_tenants(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    await _corpus(db)
    match = build_fts_query("deploy", fts_owner("alice"))
    assert match is not None
    hits = await db.read(
        lambda conn: record_search.fts_search(
            conn,
            table="memory_records",
            user_id="alice",
            match=match,
            limit=10,
            memory_types=["procedure"],
        )
    )
    wanted = {record_id_for("alice", f"to deploy release {i} run the pipeline") for i in range(3)}
    assert {h.item_id for h in hits} == wanted
    # The owner token in the match and the user filter both keep Bob's rows out.
    assert (
        await db.read(
            lambda conn: record_search.fts_search(
                conn, table="memory_records", user_id="bob", match=match, limit=10
            )
        )
        == []
    )
    await db.close()


async def test_fetch_records_is_tenant_scoped(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    mine, theirs = _record("alice", "alice likes tea"), _record("bob", "bob likes coffee")
    await _save(db, [mine, theirs])
    found = await db.read(
        lambda conn: sql.fetch_records(conn, "alice", [mine.record_id, theirs.record_id])
    )
    assert list(found) == [mine.record_id]
    assert found[mine.record_id].semantic_text == "alice likes tea"
    await db.close()


async def test_term_stats_follow_memory_writes(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    store = SqliteSemanticStore(db)
    await _save(db, [_record("alice", "kubectl rollout"), _record("bob", "kubectl apply")])
    assert await store.term_stats("alice", ["kubectl", "helm"]) == (1, {"kubectl": 1, "helm": 0})
    await _save(db, [_record("alice", "kubectl and helm charts")])
    assert await store.term_stats("alice", ["kubectl", "helm"]) == (2, {"kubectl": 2, "helm": 1})
    assert await store.term_stats("bob", ["helm", "kubectl"]) == (1, {"helm": 0, "kubectl": 1})
    await db.close()


async def test_term_stats_are_reused_across_writes_that_skip_memory(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    store = SqliteSemanticStore(db)
    await _save(db, [_record("alice", "kubectl rollout")])
    assert await store.term_stats("alice", ["kubectl"]) == (1, {"kubectl": 1})

    def sneak(conn: sqlite3.Connection) -> None:
        sql.save_record(conn, _record("alice", "kubectl again"))

    # A write that (wrongly) claims not to touch memory leaves the cached counts in place,
    # which shows they are served from the cache rather than recounted.
    await db.write(sneak, touches_memory=False)
    assert await store.term_stats("alice", ["kubectl"]) == (1, {"kubectl": 1})
    store.term_cache.ttl_s = 0.0
    assert await store.term_stats("alice", ["kubectl"]) == (2, {"kubectl": 2})
    await db.close()


async def test_generation_counts_memory_writes_only(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    start = db.generation
    await db.write(lambda conn: None)
    assert db.generation == start + 1
    await db.write(lambda conn: None, touches_memory=False)
    assert db.write_nowait(lambda conn: None, touches_memory=False)
    await db.drain()  # an awaited write itself: +1
    assert db.generation == start + 2
    await db.close()


async def test_tag_search_skips_tags_above_the_cap(tmp_path: Path) -> None:
    db = await _open(tmp_path)
    common = [_record("alice", f"note {i}", tool_tags=["git"]) for i in range(5)]
    rare = _record("alice", "rare note", tool_tags=["helm"])
    await _save(db, [*common, rare])
    hits = await db.read(
        lambda conn: record_search.tag_search(
            conn, "alice", {"tool": ["git", "helm"]}, 10, max_per_tag=5
        )
    )
    assert {h[0] for h in hits} == {r.record_id for r in [*common, rare]}
    capped = await db.read(
        lambda conn: record_search.tag_search(
            conn, "alice", {"tool": ["git", "helm"]}, 10, max_per_tag=4
        )
    )
    assert [(h[0], h[2]) for h in capped] == [(rare.record_id, {"helm"})]
    await db.close()


async def test_dominant_tenant_searches_without_the_owner_term_and_stays_isolated(
    tmp_path: Path,
) -> None:
    db = await _open(tmp_path)
    store = SqliteSemanticStore(db)
    alice = [_record("alice", f"alice deploys service {i} with helm") for i in range(6)]
    bob = [_record("bob", "bob deploys the billing service with helm")]
    await _save(db, [*alice, *bob])
    # Unknown counts: the owner term stays.
    assert store._scope_by_owner("alice") and store._scope_by_owner("bob")
    await store.term_stats("alice", ["helm"])
    await store.term_stats("bob", ["helm"])
    assert not store._scope_by_owner("alice"), "alice owns 6 of 7 rows"
    assert store._scope_by_owner("bob")
    found = await store.fts("alice", "helm deploys", table="memory_records", limit=20)
    assert {hit.item_id for hit in found} == {r.record_id for r in alice}
    found = await store.fts("bob", "helm deploys", table="memory_records", limit=20)
    assert [hit.item_id for hit in found] == [bob[0].record_id]
    # A write changes the generation: the shares are unknown again until re-read.
    await _save(db, [_record("bob", "bob also deploys with helm charts")])
    assert store._scope_by_owner("alice")
    await db.close()


def test_fts_query_without_owner_has_only_the_terms() -> None:
    assert build_fts_query("deploy helm", None) == '("deploy" OR "helm")'
    assert build_fts_query("deploy", "o1").startswith('fts_owner : "o1" AND')
