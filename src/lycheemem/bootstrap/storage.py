"""Opening the storage of one backend from ``Settings``: the embedded files (SQLite + LanceDB
in the data directory) or one PostgreSQL database shared by every replica.

Part of the composition root (the ``bootstrap`` package), which alone names the concrete
storage classes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lycheemem.auth.tokens import load_or_create_secret
from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.consolidation.reconcile import reconcile, repair_unindexed
from lycheemem.domain.ports import (
    CatalogStore,
    Embedder,
    IndexMaintenance,
    JobStore,
    SemanticStore,
    SessionStore,
    TenancyStore,
    UsageStore,
    UserStore,
    VectorIndex,
)
from lycheemem.errors import EmbeddingMismatch
from lycheemem.services.transfer import MemoryTransfer
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.permissions import secure_data_dir
from lycheemem.storage.postgres.catalog import PgCatalogStore
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.jobs import PgJobStore
from lycheemem.storage.postgres.maintenance import PgIndexMaintenance
from lycheemem.storage.postgres.meta import check_model_guard, shared_secret
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.tenancy import PgTenancyStore
from lycheemem.storage.postgres.transfer import PgTransferStore
from lycheemem.storage.postgres.usage import PgUsageStore
from lycheemem.storage.postgres.users import PgUserStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.catalog import SqliteCatalogStore
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.jobs import SqliteJobStore
from lycheemem.storage.sqlite.maintenance import SqliteIndexMaintenance
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.tenancy import SqliteTenancyStore
from lycheemem.storage.sqlite.transfer import SqliteTransferStore
from lycheemem.storage.sqlite.usage import SqliteUsageStore
from lycheemem.storage.sqlite.users import SqliteUserStore


def _check_model_guard(conn: sqlite3.Connection, model: str, dim: int, now: str) -> None:
    rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "embedding_model" not in rows:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("embedding_model", model), ("embedding_dim", str(dim)), ("created_at", now)],
        )
        return
    if rows["embedding_model"] != model or rows.get("embedding_dim") != str(dim):
        raise EmbeddingMismatch(
            f"this data directory was built with embedding model {rows['embedding_model']!r} "
            f"({rows.get('embedding_dim')}-d) but {model!r} ({dim}-d) is configured; run "
            "`python main.py reindex` to rebuild the vectors, or configure the original model"
        )


log = logging.getLogger(__name__)

ProbeFn = Callable[[], Awaitable[object]]


@dataclass
class Storage:
    """Every store of one backend, opened: what the services are wired to.

    ``backend`` is ``embedded`` (SQLite + LanceDB files in the data directory) or
    ``postgres`` (one database shared by every replica). ``probes`` are the readiness
    checks by name; ``close`` releases everything ``open_storage`` opened.
    """

    backend: str
    describe: str
    sessions: SessionStore
    semantic: SemanticStore
    vectors: VectorIndex
    jobs: JobStore
    users: UserStore
    usage: UsageStore
    catalog: CatalogStore
    tenancy: TenancyStore
    transfer: MemoryTransfer
    secret: str
    sqlite: Database | None
    probes: dict[str, ProbeFn]
    # The row side of reconciliation (every tenant).
    index_rows: IndexMaintenance
    longdoc_bank: Any  # longdoc.ports.ChunkStore (the longdoc slice is imported lazily)
    schema_version: Callable[[], int]
    queue_depth: Callable[[], int]
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def repair(self, embedder: Embedder, batch_size: int) -> int:
        """Write the vectors of rows a crash left without them; returns how many."""
        return await repair_unindexed(
            self.index_rows, self.vectors, embedder, batch_size=batch_size
        )

    async def reconcile(self, embedder: Embedder, batch_size: int) -> None:
        """Repair unindexed rows and delete vectors whose row is gone."""
        await reconcile(self.index_rows, self.vectors, embedder, batch_size=batch_size)

    async def close(self) -> None:
        """Close what was opened, last opened first; safe to call twice."""
        await _close_all(self.closers)


async def _close_all(closers: list[Callable[[], Awaitable[None]]]) -> None:
    while closers:
        closer = closers.pop()
        try:
            await closer()
        except Exception:  # closing the rest matters more than one failure
            log.exception("closing storage failed")


async def open_storage(settings: Settings, embedder: Embedder, clock: Clock) -> Storage:
    """Open the backend ``settings`` select (``LYCHEEMEM_DATABASE_URL``) with its stores."""
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        if settings.backend == "postgres":
            return await _open_postgres(settings, embedder, clock, closers)
        return await _open_embedded(settings, embedder, clock, closers)
    except BaseException:
        await _close_all(closers)
        raise


async def _open_sqlite(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Database:
    for loose in secure_data_dir(settings.data_dir, settings.db_path):
        log.warning("%s is accessible to other users; run chmod go-rwx on it", loose)
    db = Database(
        settings.db_path, synchronous=settings.sqlite_synchronous, readers=settings.sqlite_readers
    )
    await db.open()
    closers.append(db.close)
    await db.write(
        lambda conn: _check_model_guard(conn, embedder.model_name, embedder.dim, clock.now_iso())
    )
    return db


async def _open_lance(settings: Settings, embedder: Embedder, closers: list[Any]) -> Any:
    vectors = LanceVectorIndex(
        settings.lance_dir,
        dim=embedder.dim,
        strategy=settings.vector_search,
        cache_mb=settings.vector_cache_mb,
        ann_min_rows=settings.ann_min_rows,
        spill_dir=settings.data_dir / "vector-spill",
    )
    await vectors.open()
    closers.append(vectors.close)
    return vectors


def _sqlite_probe(db: Database) -> ProbeFn:
    return lambda: db.read(lambda conn: conn.execute("SELECT 1").fetchone())


async def _open_embedded(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Storage:
    """SQLite + LanceDB files in the data directory (the default)."""
    from lycheemem.longdoc.bank_factory import build_bank

    db = await _open_sqlite(settings, embedder, clock, closers)
    vectors = await _open_lance(settings, embedder, closers)
    semantic = SqliteSemanticStore(db)
    batch = settings.embedding_batch_size
    return Storage(
        backend="embedded",
        describe=f"embedded, data dir {settings.data_dir}",
        sessions=SqliteSessionStore(db),
        semantic=semantic,
        vectors=vectors,
        jobs=SqliteJobStore(db),
        users=SqliteUserStore(db),
        usage=SqliteUsageStore(db),
        catalog=SqliteCatalogStore(db),
        tenancy=SqliteTenancyStore(db),
        transfer=MemoryTransfer(
            store=SqliteTransferStore(db),
            semantic=semantic,
            vectors=vectors,
            embedder=embedder,
            clock=clock,
            embed_batch=batch,
        ),
        secret=load_or_create_secret(settings.jwt_secret, settings.data_dir),
        sqlite=db,
        probes={"sqlite": _sqlite_probe(db), "lancedb": vectors.ping},
        index_rows=SqliteIndexMaintenance(db),
        longdoc_bank=build_bank(db, lance_dir=settings.lance_dir, dim=embedder.dim),
        schema_version=lambda: db.schema_version,
        queue_depth=lambda: db.queue_depth,
        closers=closers,
    )


async def _open_postgres(
    settings: Settings, embedder: Embedder, clock: Clock, closers: list[Any]
) -> Storage:
    """Everything in one PostgreSQL database: a replica keeps no files of its own."""
    from lycheemem.longdoc.bank_factory import build_bank

    pg = PgDatabase(settings.database_url, max_size=settings.database_pool_size)
    await pg.open()
    closers.append(pg.close)
    await check_model_guard(pg, embedder.model_name, embedder.dim, clock.now_iso())
    vectors = PgVectorIndex(
        pg, dim=embedder.dim, strategy=settings.vector_search, exact_max_rows=settings.ann_min_rows
    )
    await vectors.open()
    semantic = PgSemanticStore(pg)
    closers.append(semantic.drain)
    return Storage(
        backend="postgres",
        describe=f"PostgreSQL {_redacted(settings.database_url)}",
        sessions=PgSessionStore(pg),
        semantic=semantic,
        vectors=vectors,
        jobs=PgJobStore(pg),
        users=PgUserStore(pg),
        usage=PgUsageStore(pg, settle=semantic.drain),
        catalog=PgCatalogStore(pg),
        tenancy=PgTenancyStore(pg),
        transfer=MemoryTransfer(
            store=PgTransferStore(pg, drain=semantic.drain),
            semantic=semantic,
            vectors=vectors,
            embedder=embedder,
            clock=clock,
            embed_batch=settings.embedding_batch_size,
        ),
        secret=await shared_secret(pg, settings.jwt_secret),
        sqlite=None,
        probes={"postgres": pg.ping},
        index_rows=PgIndexMaintenance(pg),
        longdoc_bank=build_bank(pg, lance_dir=settings.lance_dir, dim=embedder.dim),
        schema_version=lambda: pg.schema_version,
        queue_depth=lambda: 0,
        closers=closers,
    )


def _redacted(url: str) -> str:
    """The URL without its password, for logs."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"
