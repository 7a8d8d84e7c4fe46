"""The SQLite wrapper: migrations, transactions, the writer queue."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from lycheemem.errors import StorageError
from lycheemem.storage.sqlite.database import Database, default_reader_threads, migration_scripts

pytestmark = pytest.mark.anyio


async def test_migrations_apply_once_and_set_wal(tmp_path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    assert db.schema_version == len(migration_scripts())
    mode = await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    await db.close()
    await db.close()  # idempotent
    again = Database(tmp_path / "x.db")
    await again.open()
    assert again.schema_version == db.schema_version
    tables = await again.read(
        lambda c: {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    )
    assert {"sessions", "turns", "memory_records", "jobs", "users"} <= tables
    await again.close()


async def test_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "x.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        await Database(path).open()


async def test_write_rolls_back_on_error(tmp_path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()

    def failing(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(failing)
    count = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM meta").fetchone()[0])
    assert count == 0
    await db.close()


async def test_write_nowait_runs_and_is_bounded(tmp_path) -> None:
    db = Database(tmp_path / "x.db", nowait_queue_size=2)
    await db.open()
    accepted = [
        db.write_nowait(lambda c, i=i: c.execute("INSERT INTO meta VALUES (?, 'v')", (f"k{i}",)))
        for i in range(50)
    ]
    assert accepted[0] and not all(accepted)
    assert db.dropped_writes == accepted.count(False)
    await db.write(lambda c: None)  # drains the queue: the writer is FIFO
    count = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM meta").fetchone()[0])
    assert count == accepted.count(True)
    await db.close()


async def test_closed_database_refuses_work(tmp_path) -> None:
    db = Database(tmp_path / "x.db")
    with pytest.raises(StorageError):
        await db.read(lambda c: 1)


async def test_drain_waits_for_queued_writes(tmp_path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    for i in range(20):
        db.write_nowait(lambda c, i=i: c.execute("INSERT INTO meta VALUES (?, 'v')", (f"k{i}",)))
    await db.drain()
    count = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM meta").fetchone()[0])
    assert count == 20 and db.queue_depth == 0
    await db.close()


async def test_reads_run_on_the_configured_number_of_reader_threads(tmp_path) -> None:
    assert 2 <= default_reader_threads() <= 4
    db = Database(tmp_path / "r.db", readers=3)
    await db.open()
    started = threading.Barrier(3, timeout=5)

    def wait_for_all_three(conn: sqlite3.Connection) -> str:
        started.wait()  # only returns when three reads run at the same time
        return threading.current_thread().name

    names = await asyncio.gather(*(db.read(wait_for_all_three) for _ in range(3)))
    assert len(set(names)) == 3 and all(n.startswith("sqlite-reader") for n in names)
    await db.close()
