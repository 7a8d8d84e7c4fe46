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

from lycheemem.memory.protocols import Embedder
from lycheemem.reindex import _embed_rows, _mark
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.sqlite import manage as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore

__all__ = ["ReconcileReport", "reconcile", "repair_unindexed"]

log = logging.getLogger(__name__)
TABLES = ("memory_records", "composite_records", "skills")


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
                lambda conn, a=after, t=table: sql.unindexed_rows(conn, t, a, batch_size)
            )
            if not rows:
                break
            batch = await _embed_rows(table, rows, embedder)
            await vectors.upsert(table, batch)
            await _mark(store, table, [row.item_id for row in batch])
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
        alive = await db.read(lambda conn, t=table, i=ids: sql.existing_ids(conn, t, i))
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
