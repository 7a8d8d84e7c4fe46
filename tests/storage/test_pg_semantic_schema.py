"""PostgreSQL-only guarantees of the semantic tables (migration 0004): it applies, every tenant
table is behind row-level security (an unfiltered query sees no other tenant), the CJK
substring fallback, and the bounded background usage-log writes."""

from __future__ import annotations

import psycopg
import pytest

from lycheemem.domain.models import BatchCommit, Turn, UsageLog
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio
T0 = "2026-05-01T12:00:00.000Z"
TABLES = [
    "memory_records",
    "composite_records",
    "composite_members",
    "item_sessions",
    "memory_tags",
    "skills",
    "usage_logs",
    "consolidation_skips",
]


async def _store(url: str, **options: int) -> PgSemanticStore:
    db = PgDatabase(url, max_size=2)
    await db.open()
    return PgSemanticStore(db, **options)


async def _remember(store: PgSemanticStore, user: str, *texts: str) -> list[str]:
    await PgSessionStore(store.db).append_turn(Turn(user, "s1", -1, "user", "hi", T0), now=T0)
    records = [make_record(user, text, tool_tags=["git"]) for text in texts]
    await store.commit_batch(BatchCommit(user, "s1", 1, records=records, now=T0))
    return [record.record_id for record in records]


async def test_semantic_tables_are_behind_row_security(pg_url: str) -> None:
    store = await _store(pg_url)
    await _remember(store, "alice", "alice's secret fact")
    await _remember(store, "bob", "bob's fact")
    with psycopg.connect(pg_url) as conn:
        found = conn.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)", (TABLES,)
        ).fetchall()
    assert sorted(found) == sorted((t, True) for t in TABLES)
    async with store.db.tenant("bob") as conn:
        # deliberately no tenant filter: row-level security is the only wall left
        texts = await (await conn.execute("SELECT semantic_text FROM memory_records")).fetchall()
        tags = await (await conn.execute("SELECT DISTINCT user_id FROM memory_tags")).fetchall()
        hits = await (
            await conn.execute(
                "SELECT record_id FROM memory_records WHERE fts @@ plainto_tsquery('secret')"
            )
        ).fetchall()
        # the index-friendly candidate functions run as the owner but keep the tenant test
        leaked = await (
            await conn.execute(
                "SELECT * FROM memory_records_matching(plainto_tsquery('english', 'secret'))"
                " UNION ALL SELECT * FROM memory_records_containing(ARRAY['%%secret%%'])"
            )
        ).fetchall()
    async with store.db.tenant("alice") as conn:
        own = await (
            await conn.execute(
                "SELECT * FROM memory_records_matching(plainto_tsquery('english', 'secret'))"
            )
        ).fetchall()
    assert leaked == [] and len(own) == 1
    assert texts == [{"semantic_text": "bob's fact"}]
    assert tags == [{"user_id": "bob"}] and hits == []
    async with store.db.tenant("bob") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(
                "INSERT INTO usage_logs (log_id, user_id, created_at, query, mode)"
                " VALUES ('forged', 'alice', %s, 'q', 'semantic')",
                (T0,),
            )
    await store.db.close()


async def test_cjk_text_the_bigram_tokens_miss_is_found_by_substring(pg_url: str) -> None:
    store = await _store(pg_url)
    cat, other = await _remember(store, "u", "我的猫很可爱", "今天下雨了")
    # "猫" alone is no token of the document (its bigrams are 的猫, 猫很)
    hits = await store.fts("u", "猫", table="memory_records", limit=5)
    assert [hit.item_id for hit in hits] == [cat]
    assert await store.fts("other", "猫", table="memory_records", limit=5) == []
    assert other not in [hit.item_id for hit in hits]
    await store.mark_indexed(record_ids=[cat], composite_ids=[], skill_ids=[])
    async with store.db.tenant("u") as conn:
        cur = await conn.execute("SELECT record_id, indexed FROM memory_records ORDER BY id")
        assert [row["indexed"] for row in await cur.fetchall()] == [True, False]
    await store.db.close()


async def test_background_usage_writes_are_bounded_and_failures_counted(pg_url: str) -> None:
    store = await _store(pg_url, nowait_limit=1)
    await _remember(store, "u", "a fact")
    entry = UsageLog("log1", "u", "s1", T0, "q", "semantic")
    assert store.record_retrieval_nowait(entry, [], T0)
    assert not store.record_retrieval_nowait(entry, [], T0)  # one already in flight
    assert store.dropped_writes == 1
    await store.drain()
    assert store.queue_depth == 0
    assert store.record_retrieval_nowait(entry, [], T0)  # the same log id again: it fails
    await store.drain()
    assert store.dropped_writes == 2
    await store.db.close()
