"""``python main.py reindex``: rebuild every LanceDB vector table from SQLite text.

Run it with the server stopped after changing the embedding model or
dimension. The record, composite and skill vector tables are dropped and
created again at the embedder's dimension, every row of every tenant is
embedded again in batches, rows are flagged indexed, and the ``meta`` table
is updated so the startup model guard accepts the new embedder.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.consolidation.reconcile import write_vectors
from lycheemem.domain.ports import Embedder
from lycheemem.storage.lance.vector_index import TABLES, LanceVectorIndex
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.maintenance import SqliteIndexMaintenance, set_embedding_meta

__all__ = ["reindex"]

log = logging.getLogger(__name__)

_REBUILT = (
    ("records", "memory_records"),
    ("composites", "composite_records"),
    ("skills", "skills"),
)


def _drop_vector_tables(path: Path) -> None:
    """Drop the record, composite and skill tables (other tables in the directory stay)."""
    import lancedb

    path.mkdir(parents=True, exist_ok=True)
    connection = lancedb.connect(str(path))
    listed = connection.list_tables()
    existing = set(getattr(listed, "tables", listed))
    for table in TABLES:
        if table in existing:
            connection.drop_table(table)


async def reindex(
    settings: Settings, *, embedder: Embedder | None = None, batch_size: int | None = None
) -> dict[str, int]:
    """Rebuild all vectors with ``embedder`` (default: the configured one).

    Returns ``{"records", "composites", "skills", "dim"}``. Must not run while a
    server uses the same data directory.
    """
    if embedder is None:
        from lycheemem.bootstrap import build_embedder

        embedder = await build_embedder(settings)
    size = batch_size or settings.embedding_batch_size
    db = Database(
        settings.db_path,
        synchronous=settings.sqlite_synchronous,
        readers=settings.sqlite_readers,
    )
    await db.open()
    try:
        await asyncio.to_thread(_drop_vector_tables, settings.lance_dir)
        vectors = LanceVectorIndex(settings.lance_dir, dim=embedder.dim, strategy="ann")
        await vectors.open()
        counts: dict[str, int] = {}
        try:
            rows = SqliteIndexMaintenance(db)
            for name, table in _REBUILT:
                counts[name] = await write_vectors(
                    table,
                    rows=rows,
                    vectors=vectors,
                    embedder=embedder,
                    unindexed_only=False,
                    batch_size=size,
                )
                log.info("reindexed %d rows of %s", counts[name], table)
        finally:
            await vectors.close()
        now = Clock().now_iso()
        model, dim = embedder.model_name, embedder.dim
        await db.write(lambda conn: set_embedding_meta(conn, model, dim, now))
    finally:
        await db.close()
    return {**counts, "dim": embedder.dim}
