"""The temporal channel's SQL: the same items as one OR-ed filter, read through index ranges."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from lycheemem.domain.models import Temporal
from lycheemem.storage.sqlite import record_search
from lycheemem.storage.sqlite import records as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio


def _temporal(rng: random.Random) -> Temporal:
    day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    shape = rng.choice(["point", "point", "interval", "open", "undated"])
    if shape == "point":
        return Temporal(t_ref=day)
    if shape == "interval":
        until = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        start, end = sorted([day, until])
        return Temporal(t_valid_from=start, t_valid_to=end)
    if shape == "open":
        return Temporal(t_valid_from=day)
    return Temporal()


def _reference(conn: sqlite3.Connection, user_id: str, since: str, until: str) -> set[str]:
    """Every active record the channel must find: the overlap filter, read row by row."""
    rows = conn.execute(
        "SELECT record_id FROM memory_records WHERE user_id = ? AND expired = 0 AND ("
        " (event_start IS NOT NULL AND event_start <= ?"
        "  AND COALESCE(event_end, event_start) >= ?)"
        " OR (event_start IS NULL AND created_at BETWEEN ? AND ?))",
        (user_id, until, since, since, until),
    ).fetchall()
    return {row[0] for row in rows}


async def test_temporal_search_finds_exactly_the_overlapping_items(tmp_path: Path) -> None:
    rng = random.Random(5)
    db = Database(tmp_path / "t.db")
    await db.open()
    records = [
        make_record(
            user,
            f"memory {n} of {user}",
            temporal=_temporal(rng),
            created_at=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T08:00:00.000Z",
            expired=rng.random() < 0.1,
        )
        for user in ("alice", "bob")
        for n in range(300)
    ]

    def write(conn: sqlite3.Connection) -> None:
        for record in records:
            sql.save_record(conn, record)

    await db.write(write)
    windows = [
        ("2025-03-01T00:00:00.000Z", "2025-03-31T23:59:59.999Z"),
        ("2025-06-15T12:30:00.000Z", "2025-06-20T06:00:00.000Z"),  # opens and closes mid-day
        ("2025-12-28T00:00:00.000Z", "2026-01-31T23:59:59.999Z"),
        ("2016-01-01T00:00:00.000Z", "2016-12-31T23:59:59.999Z"),  # before everything
    ]

    def check(conn: sqlite3.Connection) -> None:
        for since, until in windows:
            found = record_search.temporal_search(conn, "alice", since, until, limit=1000)
            assert all(kind == "record" for _, kind in found)
            assert {item for item, _ in found} == _reference(conn, "alice", since, until)
            assert len(found) == len({item for item, _ in found})
            limited = record_search.temporal_search(conn, "alice", since, until, limit=5)
            assert len(limited) == min(5, len(found))

    await db.read(check)
    await db.close()


async def test_every_temporal_query_reads_an_index_range(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    statements: list[str] = []

    def trace(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(statements.append)
        try:
            record_search.temporal_search(conn, "alice", "2025-03-01", "2025-03-31", limit=10)
        finally:
            conn.set_trace_callback(None)
        for statement in statements:
            plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
            assert "USING INDEX" in plan, (statement, plan)
            assert "SCAN" not in plan.replace("USING TEMP B-TREE", ""), (statement, plan)

    await db.read(trace)
    assert len(statements) == 6  # three queries per table
    await db.close()
