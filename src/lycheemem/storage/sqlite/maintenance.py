"""Index maintenance on SQLite: the rows behind the vectors, across every tenant.

``SqliteIndexMaintenance`` implements ``domain.ports.IndexMaintenance`` for the storage
reconciler and the offline ``reindex``; the sync helpers below are what it runs. None of it
is tenant-scoped: nothing here may serve a request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial

from lycheemem.domain.ports import VECTOR_TABLES, IndexSource
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.records import chunks, placeholders

__all__ = [
    "SqliteIndexMaintenance",
    "existing_ids",
    "index_sources",
    "mark_indexed",
    "set_embedding_meta",
]

_ID_COLUMNS = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
}


def _check(table: str) -> str:
    """The id column of a vector-backed ``table``; ``ValueError`` for any other table."""
    if table not in VECTOR_TABLES:
        raise ValueError(f"not a vector-backed table: {table!r}")
    return _ID_COLUMNS[table]


def _source(table: str, row: sqlite3.Row) -> IndexSource:
    if table == "skills":
        return IndexSource(
            row["skill_id"], row["user_id"], row["intent"], None, "", 0, False, row["id"]
        )
    return IndexSource(
        item_id=row[_ID_COLUMNS[table]],
        user_id=row["user_id"],
        text=row["semantic_text"],
        normalized_text=row["normalized_text"],
        memory_type=row["memory_type"],
        level=row["level"] if table == "composite_records" else 0,
        expired=bool(row["expired"]),
        position=row["id"],
    )


def index_sources(
    conn: sqlite3.Connection, table: str, after: int, limit: int, unindexed_only: bool
) -> list[IndexSource]:
    """Rows of **every** tenant with rowid > ``after`` in rowid order (with
    ``unindexed_only``, only ``indexed = 0`` rows)."""
    _check(table)
    flag = "indexed = 0 AND " if unindexed_only else ""
    rows = conn.execute(
        f"SELECT * FROM {table} WHERE {flag}id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()
    return [_source(table, row) for row in rows]


def existing_ids(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` (of any tenant) still have a row in the vector-backed ``table``."""
    column = _check(table)
    found: set[str] = set()
    for part in chunks(list(ids)):
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} IN ({placeholders(len(part))})", part
        )
        found.update(row[0] for row in rows)
    return found


def mark_indexed(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> None:
    """Flag rows of the vector-backed ``table`` as having their vectors written."""
    column = _check(table)
    for part in chunks(list(ids)):
        conn.execute(
            f"UPDATE {table} SET indexed = 1 WHERE {column} IN ({placeholders(len(part))})",
            tuple(part),
        )


def set_embedding_meta(conn: sqlite3.Connection, model: str, dim: int, now: str) -> None:
    """Record which embedder built the vectors (the startup model guard reads it)."""
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("embedding_model", model), ("embedding_dim", str(dim))],
    )
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now,))


class SqliteIndexMaintenance:
    """Implements ``domain.ports.IndexMaintenance`` on the SQLite database (every tenant)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def index_sources(
        self, table: str, *, after: int, limit: int, unindexed_only: bool
    ) -> list[IndexSource]:
        """Up to ``limit`` rows after rowid ``after`` (only unindexed ones if asked)."""
        return await self._db.read(
            partial(
                index_sources, table=table, after=after, limit=limit, unindexed_only=unindexed_only
            )
        )

    async def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` still have a row in ``table``."""
        return await self._db.read(partial(existing_ids, table=table, ids=ids))

    async def mark_indexed(self, table: str, ids: Sequence[str]) -> None:
        """Flag these rows as having their vectors written."""
        await self._db.write(partial(mark_indexed, table=table, ids=ids))
