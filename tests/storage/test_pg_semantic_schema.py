"""Migration 0004 (semantic tables) on a fresh PostgreSQL database: it applies, every tenant
table is behind row-level security, and the generated full-text column indexes the text."""

from __future__ import annotations

import psycopg
import pytest

from lycheemem.storage.postgres.database import PgDatabase

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


async def test_semantic_tables_apply_with_row_security_and_full_text(pg_url: str) -> None:
    db = PgDatabase(pg_url, max_size=2)
    await db.open()
    assert db.schema_version >= 4
    with psycopg.connect(pg_url) as conn:
        found = conn.execute(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)", (TABLES,)
        ).fetchall()
    assert sorted(found) == sorted((t, True) for t in TABLES)
    async with db.tenant("alice") as conn:
        await conn.execute(
            "INSERT INTO memory_records (record_id, user_id, memory_type, semantic_text,"
            " normalized_text, created_at, updated_at, fts_text, fts_tags, fts_owner)"
            " VALUES ('r1', 'alice', 'fact', 'Alice runs databases', 'alice runs databases',"
            " %s, %s, 'alice runs databases', 'postgres', 'u_a')",
            (T0, T0),
        )
        cur = await conn.execute(
            "SELECT record_id FROM memory_records"
            " WHERE fts @@ plainto_tsquery('english', 'running database')"
        )
        assert [row["record_id"] for row in await cur.fetchall()] == ["r1"]
    async with db.tenant("bob") as conn:
        cur = await conn.execute("SELECT COUNT(*) AS n FROM memory_records")
        assert (await cur.fetchone() or {})["n"] == 0
    await db.close()
