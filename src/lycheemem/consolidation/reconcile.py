"""Make the rows and their vectors agree again after a crash (docs/DECISIONS.md, "Reconcile").

A consolidation batch or an import commits rows with ``indexed = 0`` and then writes their
vectors; a deletion removes rows and then their vectors. A crash in between leaves rows
without vectors (invisible to vector search) or vectors without rows. ``reconcile`` embeds
and writes the vectors of every unindexed row and deletes every vector whose row is gone, so
the result equals the uninterrupted run's. It works over the ports only
(``IndexMaintenance`` for the rows, ``VectorIndex`` for the vectors), so every backend runs
the same code.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from lycheemem.domain.models import VectorRow
from lycheemem.domain.ports import (
    VECTOR_TABLES,
    Embedder,
    IndexMaintenance,
    IndexSource,
    VectorIndex,
)

__all__ = [
    "ReconcileReport",
    "delete_orphans",
    "embed_sources",
    "reconcile",
    "repair_unindexed",
    "write_vectors",
]

log = logging.getLogger(__name__)


async def embed_sources(
    table: str, sources: list[IndexSource], embedder: Embedder
) -> list[VectorRow]:
    """The vector rows of ``sources`` of ``table`` (records and composites get both columns)."""
    if table == "skills":
        matrix = await embedder.embed([s.text for s in sources], kind="document")
        return [VectorRow(s.item_id, s.user_id, matrix[n]) for n, s in enumerate(sources)]
    texts = [s.text for s in sources] + [s.normalized_text or "" for s in sources]
    matrix = await embedder.embed(texts, kind="document")
    count = len(sources)
    return [
        VectorRow(
            item_id=s.item_id,
            user_id=s.user_id,
            vector=matrix[n],
            normalized_vector=matrix[count + n],
            memory_type=s.memory_type,
            level=s.level,
            expired=s.expired,
        )
        for n, s in enumerate(sources)
    ]


async def write_vectors(
    table: str,
    *,
    rows: IndexMaintenance,
    vectors: VectorIndex,
    embedder: Embedder,
    unindexed_only: bool,
    batch_size: int = 64,
) -> int:
    """Embed rows of ``table`` page by page, write their vectors, then flag them indexed.

    With ``unindexed_only`` only rows never confirmed indexed (crash repair); without, every
    row (``reindex``). Returns how many rows were written.
    """
    after, done = 0, 0
    while True:
        page = await rows.index_sources(
            table, after=after, limit=batch_size, unindexed_only=unindexed_only
        )
        if not page:
            return done
        await vectors.upsert(table, await embed_sources(table, page, embedder))
        await rows.mark_indexed(table, [source.item_id for source in page])
        done += len(page)
        after = page[-1].position


@dataclass(slots=True)
class ReconcileReport:
    """Rows whose vectors were written again, and vectors deleted for missing rows."""

    reindexed: int = 0
    orphans_deleted: int = 0


async def repair_unindexed(
    rows: IndexMaintenance, vectors: VectorIndex, embedder: Embedder, *, batch_size: int = 64
) -> int:
    """Embed and write the vectors of every unindexed row of every table; returns how many."""
    done = 0
    for table in VECTOR_TABLES:
        done += await write_vectors(
            table,
            rows=rows,
            vectors=vectors,
            embedder=embedder,
            unindexed_only=True,
            batch_size=batch_size,
        )
    return done


async def delete_orphans(rows: IndexMaintenance, vectors: VectorIndex) -> int:
    """Delete vectors whose row no longer exists; returns how many.

    The vectors are listed before the rows are checked: a row is always committed before its
    vector is written, so any vector seen whose row is missing afterwards belongs to a deletion.
    """
    deleted = 0
    for table in VECTOR_TABLES:
        pairs = await vectors.all_ids(table)
        alive = await rows.existing_ids(table, [item_id for _, item_id in pairs])
        orphans: dict[str, list[str]] = defaultdict(list)
        for user_id, item_id in pairs:
            if item_id not in alive:
                orphans[user_id].append(item_id)
        for user_id, gone in orphans.items():
            await vectors.delete(table, user_id, gone)
            deleted += len(gone)
    return deleted


async def reconcile(
    rows: IndexMaintenance, vectors: VectorIndex, embedder: Embedder, *, batch_size: int = 64
) -> ReconcileReport:
    """Repair unindexed rows, then delete orphan vectors; logs what it changed."""
    report = ReconcileReport(
        reindexed=await repair_unindexed(rows, vectors, embedder, batch_size=batch_size),
        orphans_deleted=await delete_orphans(rows, vectors),
    )
    if report.reindexed or report.orphans_deleted:
        log.warning(
            "reconciled storage: %d rows re-embedded, %d orphan vectors deleted",
            report.reindexed,
            report.orphans_deleted,
        )
    return report
