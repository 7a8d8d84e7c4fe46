"""Make SQLite and LanceDB agree again after a crash (docs/DECISIONS.md, "Reconcile").

A consolidation batch or an import commits rows to SQLite with ``indexed = 0`` and then
writes their vectors; a deletion removes SQLite rows and then their vectors. A crash in
between leaves rows without vectors (invisible to vector search) or vectors without
rows. ``reconcile`` embeds and writes the vectors of every ``indexed = 0`` row and
deletes every vector whose row is gone, so the result equals the uninterrupted run's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any

from lycheemem.domain.ports import Embedder
from lycheemem.storage.lance.vector_index import LanceVectorIndex, VectorRow
from lycheemem.storage.sqlite import admin as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore

__all__ = [
    "ReconcileReport",
    "delete_orphans",
    "embed_rows",
    "mark_indexed_rows",
    "reconcile",
    "repair_unindexed",
]

log = logging.getLogger(__name__)
TABLES = ("memory_records", "composite_records", "skills")
_ID_COLUMNS = {"memory_records": "record_id", "composite_records": "composite_id"}


def _item_rows(table: str, rows: list[Any], matrix: Any) -> list[VectorRow]:
    count = len(rows)
    return [
        VectorRow(
            item_id=row[_ID_COLUMNS[table]],
            user_id=row["user_id"],
            vector=matrix[n],
            normalized_vector=matrix[count + n],
            memory_type=row["memory_type"],
            level=row["level"] if table == "composite_records" else 0,
            expired=bool(row["expired"]),
        )
        for n, row in enumerate(rows)
    ]


async def mark_indexed_rows(store: SqliteSemanticStore, table: str, ids: list[str]) -> None:
    """Flag ``ids`` of the vector-backed ``table`` as having their vectors written."""
    empty: list[str] = []
    await store.mark_indexed(
        record_ids=ids if table == "memory_records" else empty,
        composite_ids=ids if table == "composite_records" else empty,
        skill_ids=ids if table == "skills" else empty,
    )


async def embed_rows(table: str, rows: list[Any], embedder: Embedder) -> list[VectorRow]:
    """The vectors of SQLite ``rows`` of ``table`` (records and composites get both columns)."""
    if table == "skills":
        matrix = await embedder.embed([row["intent"] for row in rows], kind="document")
        return [VectorRow(r["skill_id"], r["user_id"], matrix[n]) for n, r in enumerate(rows)]
    texts = [r["semantic_text"] for r in rows] + [r["normalized_text"] for r in rows]
    return _item_rows(table, rows, await embedder.embed(texts, kind="document"))


@dataclass(slots=True)
class ReconcileReport:
    """Rows whose vectors were written again, and vectors deleted for missing rows."""

    reindexed: int = 0
    orphans_deleted: int = 0


async def repair_unindexed(
    db: Database, vectors: LanceVectorIndex, embedder: Embedder, *, batch_size: int = 64
) -> int:
    """Embed and write the vectors of every ``indexed = 0`` row; returns how many."""
    store = SqliteSemanticStore(db)
    done = 0
    for table in TABLES:
        after = 0
        while True:
            rows = await db.read(
                partial(sql.unindexed_rows, table=table, after=after, limit=batch_size)
            )
            if not rows:
                break
            batch = await embed_rows(table, rows, embedder)
            await vectors.upsert(table, batch)
            await mark_indexed_rows(store, table, [row.item_id for row in batch])
            done += len(rows)
            after = rows[-1]["id"]
    return done


async def delete_orphans(db: Database, vectors: LanceVectorIndex) -> int:
    """Delete vectors whose SQLite row no longer exists; returns how many.

    LanceDB is read before SQLite: a row is always committed before its vector is
    written, so any vector seen whose row is missing afterwards belongs to a deletion.
    """
    deleted = 0
    for table in TABLES:
        pairs = await vectors.all_ids(table)
        ids = [item_id for _, item_id in pairs]
        alive = await db.read(partial(sql.existing_ids, table=table, ids=ids))
        orphans: dict[str, list[str]] = defaultdict(list)
        for user_id, item_id in pairs:
            if item_id not in alive:
                orphans[user_id].append(item_id)
        for user_id, gone in orphans.items():
            await vectors.delete(table, user_id, gone)
            deleted += len(gone)
    return deleted


async def reconcile(
    db: Database, vectors: LanceVectorIndex, embedder: Embedder, *, batch_size: int = 64
) -> ReconcileReport:
    """Repair unindexed rows, then delete orphan vectors; logs what it changed."""
    report = ReconcileReport(
        reindexed=await repair_unindexed(db, vectors, embedder, batch_size=batch_size),
        orphans_deleted=await delete_orphans(db, vectors),
    )
    if report.reindexed or report.orphans_deleted:
        log.warning(
            "reconciled storage: %d rows re-embedded, %d orphan vectors deleted",
            report.reindexed,
            report.orphans_deleted,
        )
    return report
