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
import shutil
from functools import partial
from pathlib import Path

from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.domain.ports import Embedder
from lycheemem.storage.lance.vector_index import TABLES, LanceVectorIndex
from lycheemem.storage.reconcile import embed_rows, mark_indexed_rows
from lycheemem.storage.sqlite import admin as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore

__all__ = ["reindex"]

log = logging.getLogger(__name__)

_ID_COLUMNS = {"memory_records": "record_id", "composite_records": "composite_id"}
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


async def _rebuild_table(
    table: str, db: Database, vectors: LanceVectorIndex, embedder: Embedder, batch_size: int
) -> int:
    """Embed and upsert every row of ``table`` batch by batch; returns the row count."""
    store = SqliteSemanticStore(db)
    after, done = 0, 0
    while True:
        rows = await db.read(
            partial(sql.rows_for_reindex, table=table, after=after, limit=batch_size)
        )
        if not rows:
            return done
        batch = await embed_rows(table, rows, embedder)
        await vectors.upsert(table, batch)
        await mark_indexed_rows(store, table, [row.item_id for row in batch])
        done += len(rows)
        after = rows[-1]["id"]
        log.info("reindexed %d rows of %s", done, table)


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
        # Saved IVF indexes describe the dropped tables: a recreated table restarts its
        # version numbers, so they could pass for current.
        await asyncio.to_thread(shutil.rmtree, vectors.snapshot_dir, ignore_errors=True)
        await vectors.open()
        counts: dict[str, int] = {}
        try:
            for name, table in _REBUILT:
                counts[name] = await _rebuild_table(table, db, vectors, embedder, size)
        finally:
            await vectors.close()
        now = Clock().now_iso()
        model, dim = embedder.model_name, embedder.dim
        await db.write(lambda conn: sql.set_embedding_meta(conn, model, dim, now))
    finally:
        await db.close()
    return {**counts, "dim": embedder.dim}
