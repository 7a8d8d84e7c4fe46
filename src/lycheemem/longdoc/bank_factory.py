"""Pick the chunk bank for the database the app runs on (the slice's one factory)."""

from __future__ import annotations

from pathlib import Path

from lycheemem.longdoc.bank import SqliteChunkBank
from lycheemem.longdoc.pg_bank import PgChunkBank
from lycheemem.longdoc.ports import ChunkStore
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.sqlite.database import Database

__all__ = ["build_bank"]


def build_bank(db: Database | PgDatabase, *, lance_dir: Path, dim: int) -> ChunkStore:
    """The embedded bank (SQLite + LanceDB under ``lance_dir``) for a SQLite ``Database``,
    the PostgreSQL bank (pgvector; ``lance_dir`` unused) for a ``PgDatabase``."""
    if isinstance(db, PgDatabase):
        return PgChunkBank(db, dim=dim)
    return SqliteChunkBank(db, lance_dir, dim=dim)
