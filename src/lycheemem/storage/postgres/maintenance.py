"""Index maintenance on PostgreSQL: the rows behind the vectors, across every tenant.

``PgIndexMaintenance`` implements ``domain.ports.IndexMaintenance`` for the storage reconciler
(and any offline reindex). Every call runs in ``PgDatabase.system()``, the scope that sees all
tenants on purpose; nothing here may serve a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lycheemem.domain.ports import VECTOR_TABLES, IndexSource
from lycheemem.storage.postgres.database import PgDatabase

__all__ = ["PgIndexMaintenance"]

_ID_COLUMNS = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
}
_SOURCE_COLUMNS = {
    "memory_records": "record_id AS item_id, user_id, semantic_text AS text, normalized_text,"
    " memory_type, 0 AS level, expired, id",
    "composite_records": "composite_id AS item_id, user_id, semantic_text AS text,"
    " normalized_text, memory_type, level, expired, id",
    "skills": "skill_id AS item_id, user_id, intent AS text, NULL AS normalized_text,"
    " '' AS memory_type, 0 AS level, false AS expired, id",
}


def _check(table: str) -> str:
    """The id column of a vector-backed ``table``; ``ValueError`` for any other table."""
    if table not in VECTOR_TABLES:
        raise ValueError(f"not a vector-backed table: {table!r}")
    return _ID_COLUMNS[table]


def _source(row: dict[str, Any]) -> IndexSource:
    return IndexSource(
        item_id=row["item_id"],
        user_id=row["user_id"],
        text=row["text"],
        normalized_text=row["normalized_text"],
        memory_type=row["memory_type"],
        level=int(row["level"]),
        expired=bool(row["expired"]),
        position=int(row["id"]),
    )


class PgIndexMaintenance:
    """Implements ``domain.ports.IndexMaintenance`` on PostgreSQL (every tenant)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def index_sources(
        self, table: str, *, after: int, limit: int, unindexed_only: bool
    ) -> list[IndexSource]:
        """Up to ``limit`` rows with ``id > after`` in id order (only unindexed ones if asked)."""
        _check(table)
        flag = "NOT indexed AND " if unindexed_only else ""
        async with self._db.system() as conn:
            cur = await conn.execute(
                f"SELECT {_SOURCE_COLUMNS[table]} FROM {table} WHERE {flag}id > %s"
                " ORDER BY id LIMIT %s",
                (after, limit),
            )
            return [_source(row) for row in await cur.fetchall()]

    async def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` still have a row in ``table``."""
        column = _check(table)
        if not ids:
            return set()
        async with self._db.system() as conn:
            cur = await conn.execute(
                f"SELECT {column} AS item_id FROM {table} WHERE {column} = ANY(%s)", (list(ids),)
            )
            return {row["item_id"] for row in await cur.fetchall()}

    async def mark_indexed(self, table: str, ids: Sequence[str]) -> None:
        """Flag these rows as having their vectors written."""
        column = _check(table)
        if ids:
            async with self._db.system() as conn:
                await conn.execute(
                    f"UPDATE {table} SET indexed = true WHERE {column} = ANY(%s)", (list(ids),)
                )
