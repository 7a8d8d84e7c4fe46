"""LanceDB vector tables (explicit schemas) with the embedding-model guard.

LanceDB calls are blocking; every public coroutine runs them on a dedicated
thread so the event loop never waits on disk. The exact-search cache lives on
that same thread, so cache reads and write-through updates never race.

Search strategies (MEMORY.md §4.4):

- ``exact``: a per-(user, table, column) float32 matrix loaded on the tenant's
  first search and kept current write-through; one matrix product per search.
- ``ann``: a LanceDB vector search with a ``user_id``/``expired`` prefilter
  (cosine). It is brute force until ``ensure_ann_index`` has built an
  ``IVF_HNSW_SQ`` index on the column; nothing builds one automatically.
- ``auto``: ``exact`` for a tenant's column under ``ann_min_rows`` rows; from there an
  in-process IVF (``IvfMatrix``: centroids and ids in RAM, the full rows in a memory-mapped
  scratch file under ``spill_dir``), built on the first search and kept current
  write-through like the exact matrix. Either kind counts against the cache budget
  (least recently used evicted first); one that cannot fit falls back to ``ann``.

Big tenants' IVF indexes are saved under ``snapshot_dir`` and reused after a restart
(``matrices.py`` says when a saved index is trusted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from lycheemem.domain.ports import VectorRow
from lycheemem.errors import ConfigError, EmbeddingMismatch, StorageError
from lycheemem.storage.lance.matrices import TenantMatrices
from lycheemem.storage.lance.matrix import unit_rows
from lycheemem.storage.lance.tables import (
    FILTER_BATCH,
    TABLES,
    VECTOR_COLUMNS,
    WRITE_BATCH,
    chunks,
    column_matrix,
    ensure_ann_index,
    has_expired,
    in_list,
    lance_search,
    sql_literal,
    table_schema,
    tenant_filter,
    vector_array,
)

__all__ = [
    "STRATEGIES",
    "TABLES",
    "LanceVectorIndex",
    "VectorRow",
    "sql_literal",
    "table_schema",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

STRATEGIES = ("auto", "exact", "ann")


class LanceVectorIndex:
    """The LanceDB directory holding record, composite and skill vectors.

    Promises: tables exist with the configured dimension after ``open()``;
    ``open()`` raises ``EmbeddingMismatch`` if existing tables were built
    with another dimension. Every read is scoped to one ``user_id``; searches
    exclude expired rows unless asked and return cosine in [-1, 1], best first.
    A write is visible to every later call once its coroutine has returned.
    """

    def __init__(
        self,
        path: Path,
        *,
        dim: int,
        strategy: str = "auto",
        cache_mb: int = 1024,
        ann_min_rows: int = 100_000,
        spill_dir: Path | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"LYCHEEMEM_VECTOR_SEARCH must be one of {', '.join(STRATEGIES)}, not {strategy!r}"
            )
        self.path = Path(path)
        self.dim = dim
        self.strategy = strategy
        self.ann_min_rows = ann_min_rows
        self.spill_dir = spill_dir if spill_dir is not None else self.path.parent / "vector-spill"
        self.snapshot_dir = (
            snapshot_dir if snapshot_dir is not None else self.path.parent / "vector-index"
        )
        self._matrices = TenantMatrices(
            dim=dim,
            strategy=strategy,
            cache_mb=cache_mb,
            ann_min_rows=ann_min_rows,
            spill_dir=self.spill_dir,
            snapshot_dir=self.snapshot_dir,
        )
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._executor: ThreadPoolExecutor | None = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StorageError("vector index is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Connect, create missing tables and scalar indexes, check existing tables' dimension;
        then start loading the saved IVF indexes (later calls queue behind each load)."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="lancedb")
        await self._run(self._open_sync)
        self._executor.submit(self._warm_sync)

    def _warm_sync(self) -> None:
        try:
            loaded = self._matrices.warm()
        except Exception:  # a background task has no caller to raise to; searches load lazily
            log.exception("loading the saved vector indexes failed")
            return
        if loaded:
            log.info("loaded %d saved vector indexes", loaded)

    def _open_sync(self) -> None:
        import lancedb

        self.path.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.path))
        existing = set(self._list_tables())
        for table in TABLES:
            if table in existing:
                handle = self._db.open_table(table)
                self._check_dim(table, handle.schema)
            else:
                handle = self._db.create_table(table, schema=table_schema(table, self.dim))
            self._tables[table] = handle
            self._ensure_scalar_indexes(table, handle)
        self._matrices.opened(self._tables)

    def _ensure_scalar_indexes(self, table: str, handle: Any) -> None:
        from lancedb.index import BTree

        indexed = {column for index in handle.list_indices() for column in index.columns}
        for column in ("user_id", TABLES[table][0]):
            if column not in indexed:
                handle.create_index(column, config=BTree())

    def _list_tables(self) -> list[str]:
        listed = self._db.list_tables()
        names = getattr(listed, "tables", listed)
        return list(names)

    def _check_dim(self, table: str, schema: pa.Schema) -> None:
        found = schema.field("vector").type.list_size
        if found != self.dim:
            raise EmbeddingMismatch(
                f"LanceDB table {table!r} holds {found}-d vectors but the configured embedder "
                f"produces {self.dim}-d vectors; run `python main.py reindex` to rebuild the "
                "vectors with the new embedder"
            )

    def table(self, name: str) -> Any:
        """The open LanceDB table ``name`` (blocking API; use from the index thread)."""
        return self._tables[name]

    async def ping(self) -> int:
        """Count rows of the records table (a cheap readiness probe)."""
        return int(await self._run(lambda: self._tables["memory_records"].count_rows()))

    async def cache_info(self) -> list[dict[str, Any]]:
        """The cached matrices, least recently used first: key, kind, rows and RAM bytes."""
        return await self._run(self._matrices.describe)

    async def close(self) -> None:
        """Save the cached IVF indexes, release the thread and drop the cache; safe to call
        twice."""
        self._matrices.stop_warming()
        try:
            if self._executor is not None and self._tables:
                await self._run(self._persist_sync)
        finally:
            executor, self._executor = self._executor, None
            if executor is not None:
                executor.shutdown(wait=True)
            self._tables.clear()
            self._matrices.clear()
            self._db = None

    def _persist_sync(self) -> None:
        if not self._matrices.persisting():
            return
        # What each table's latest version on disk is (another process may have written it).
        latest = {table: int(self._db.open_table(table).version) for table in self._tables}
        self._matrices.persist(latest)

    # -- helpers -----------------------------------------------------------

    def _handle(self, table: str) -> Any:
        handle = self._tables.get(table)
        if handle is None:
            if table not in TABLES:
                raise StorageError(f"unknown vector table {table!r}")
            raise StorageError("vector index is not open")
        return handle

    def _check_column(self, table: str, column: str) -> None:
        if column not in VECTOR_COLUMNS.get(table, ()):
            raise StorageError(f"vector table {table!r} has no vector column {column!r}")

    def _check_vectors(self, matrix: np.ndarray, what: str) -> None:
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise EmbeddingMismatch(
                f"{what} have shape {matrix.shape}, expected (n, {self.dim}) for this index"
            )
        if not np.isfinite(matrix).all():
            raise StorageError(f"{what} contain NaN or infinite values")

    # -- writes ------------------------------------------------------------

    async def upsert(self, table: str, rows: Sequence[VectorRow]) -> None:
        """Insert or replace ``rows`` by id (batched ``merge_insert``); the last duplicate wins.

        Ids are global: a row whose id another user already holds is not written,
        and ``StorageError`` names it after the other rows have been written.
        """
        unique = list({row.item_id: row for row in rows}.values())
        if unique:
            prepared = self._prepare_many(unique)
            await self._run(self._upsert_sync, table, prepared)

    def _prepare_many(self, rows: list[VectorRow]) -> list[VectorRow]:
        # Runs on the event loop: one matrix operation per column instead of a few small
        # ones per row (an import of 2,000 records held the loop ~0.3 s doing it row by row).
        dims = {np.shape(row.vector) for row in rows}
        normalized = [row.normalized_vector for row in rows]
        has_normalized = [n is not None for n in normalized]
        if (
            len(dims) != 1
            or dims.pop() != (self.dim,)
            or any(np.shape(n) != (self.dim,) for n in normalized if n is not None)
        ):
            return [self._prepare(row) for row in rows]  # names the row that is wrong
        vectors = unit_rows(np.stack([row.vector for row in rows]))
        norm_matrix = (
            unit_rows(np.stack([n for n in normalized if n is not None]))
            if any(has_normalized)
            else None
        )
        if not np.isfinite(vectors).all() or (
            norm_matrix is not None and not np.isfinite(norm_matrix).all()
        ):
            return [self._prepare(row) for row in rows]
        out: list[VectorRow] = []
        position = 0
        for n, row in enumerate(rows):
            norm_row = None
            if norm_matrix is not None and has_normalized[n]:
                norm_row = norm_matrix[position]
                position += 1
            out.append(
                VectorRow(
                    item_id=row.item_id,
                    user_id=row.user_id,
                    vector=vectors[n],
                    normalized_vector=norm_row,
                    memory_type=row.memory_type,
                    level=row.level,
                    expired=row.expired,
                )
            )
        return out

    def _prepare(self, row: VectorRow) -> VectorRow:
        vector = unit_rows(row.vector)
        self._check_vectors(vector, f"vector of {row.item_id!r}")
        normalized = row.normalized_vector
        if normalized is not None:
            normalized = unit_rows(normalized)
            self._check_vectors(normalized, f"normalized_vector of {row.item_id!r}")
            normalized = normalized[0]
        return VectorRow(
            item_id=row.item_id,
            user_id=row.user_id,
            vector=vector[0],
            normalized_vector=normalized,
            memory_type=row.memory_type,
            level=row.level,
            expired=row.expired,
        )

    def _upsert_sync(self, table: str, rows: Sequence[VectorRow]) -> None:
        handle = self._handle(table)
        id_column = TABLES[table][0]
        for user_id in {row.user_id for row in rows}:
            self._matrices.forget(table, user_id)
        refused: list[str] = []
        for batch in chunks(rows, WRITE_BATCH):
            merge = handle.merge_insert(id_column)
            # An id held by another tenant matches but fails this condition: left untouched.
            merge.when_matched_update_all(where="target.user_id = source.user_id")
            merge.when_not_matched_insert_all()
            # "null" lets a missing normalized_vector through; _prepare already rejected NaNs.
            result = merge.execute(self._to_arrow(table, batch), on_bad_vectors="null")
            written = batch
            if result.num_updated_rows + result.num_inserted_rows < len(batch):
                foreign = self._foreign_ids(handle, id_column, batch)
                refused += sorted(foreign)
                written = [row for row in batch if row.item_id not in foreign]
            self._matrices.put_rows(table, written)
        if refused:
            raise StorageError(
                f"{len(refused)} ids in {table!r} belong to another user and were not "
                f"written: {refused[:5]!r}"
            )

    @staticmethod
    def _foreign_ids(handle: Any, id_column: str, rows: Sequence[VectorRow]) -> set[str]:
        owners = {row.item_id: row.user_id for row in rows}
        where = in_list(id_column, list(owners))
        stored = handle.search().where(where).select([id_column, "user_id"]).limit(None)
        found = stored.to_arrow().to_pylist()
        return {hit[id_column] for hit in found if hit["user_id"] != owners[hit[id_column]]}

    def _to_arrow(self, table: str, rows: Sequence[VectorRow]) -> pa.Table:
        id_column, extras = TABLES[table]
        columns: dict[str, Any] = {
            id_column: [row.item_id for row in rows],
            "user_id": [row.user_id for row in rows],
        }
        for name, _ in extras:
            columns[name] = [getattr(row, name) for row in rows]
        columns["vector"] = vector_array([row.vector for row in rows], self.dim)
        if "normalized_vector" in VECTOR_COLUMNS[table]:
            normalized = [row.normalized_vector for row in rows]
            columns["normalized_vector"] = vector_array(normalized, self.dim)
        return pa.table(columns, schema=table_schema(table, self.dim))

    async def delete(self, table: str, user_id: str, ids: Sequence[str]) -> None:
        """Delete the tenant's rows with these ids; ids of other tenants are untouched."""
        if ids:
            await self._run(self._delete_sync, table, user_id, list(ids))

    def _delete_sync(self, table: str, user_id: str, ids: Sequence[str]) -> None:
        handle = self._handle(table)
        id_column = TABLES[table][0]
        self._matrices.forget(table, user_id)
        for batch in chunks(ids, FILTER_BATCH):
            handle.delete(f"user_id = {sql_literal(user_id)} AND {in_list(id_column, batch)}")
            self._matrices.remove(table, user_id, batch)

    async def set_expired(
        self, table: str, user_id: str, ids: Sequence[str], expired: bool = True
    ) -> None:
        """Flag the tenant's rows expired (hidden from default searches) or active again."""
        if not has_expired(table):
            raise StorageError(f"vector table {table!r} has no expired column")
        if ids:
            await self._run(self._set_expired_sync, table, user_id, list(ids), expired)

    def _set_expired_sync(
        self, table: str, user_id: str, ids: Sequence[str], expired: bool
    ) -> None:
        handle = self._handle(table)
        id_column = TABLES[table][0]
        self._matrices.forget(table, user_id)
        for batch in chunks(ids, FILTER_BATCH):
            where = f"user_id = {sql_literal(user_id)} AND {in_list(id_column, batch)}"
            handle.update(where=where, values={"expired": expired})
            self._matrices.set_expired(table, user_id, batch, expired)

    async def delete_user(self, user_id: str) -> None:
        """Delete every vector of the tenant from every table and the cache."""
        await self._run(self._delete_user_sync, user_id)

    def _delete_user_sync(self, user_id: str) -> None:
        self._matrices.drop_user(user_id)
        for table in TABLES:
            self._handle(table).delete(f"user_id = {sql_literal(user_id)}")

    async def optimize(self) -> None:
        """Compact fragments, prune old versions and fold new rows into indexes, on every table."""
        await self._run(self._optimize_sync)

    def _optimize_sync(self) -> None:
        for table in TABLES:
            self._handle(table).optimize()

    # -- reads -------------------------------------------------------------

    async def count(self, table: str, user_id: str) -> int:
        """Rows the tenant has in ``table``, expired ones included."""
        where = f"user_id = {sql_literal(user_id)}"
        return int(await self._run(lambda: self._handle(table).count_rows(where)))

    async def all_ids(self, table: str) -> list[tuple[str, str]]:
        """``(user_id, item_id)`` of every row of every tenant (storage reconciliation only)."""
        id_column = TABLES[table][0]

        def scan() -> list[tuple[str, str]]:
            query = self._handle(table).search().select([id_column, "user_id"]).limit(None)
            rows = query.to_arrow().to_pylist()
            return [(row["user_id"], row[id_column]) for row in rows]

        return await self._run(scan)

    async def search(
        self,
        table: str,
        user_id: str,
        queries: np.ndarray,
        *,
        column: str = "vector",
        k: int,
        include_expired: bool = False,
        exact: bool = False,
    ) -> list[list[tuple[str, float]]]:
        """Per query row, the tenant's top ``k`` (id, cosine), best first, cosine in [-1, 1].

        ``queries`` is (n, dim) (a single (dim,) vector counts as n = 1); they are
        L2-normalised here. Rows whose ``column`` is null never match. ``exact`` scans
        every cached row even where an approximate index serves searches (for measuring
        its recall); it changes nothing where the tenant is not cached.
        """
        self._check_column(table, column)
        matrix = unit_rows(queries)
        self._check_vectors(matrix, "queries")
        if k <= 0 or len(matrix) == 0:
            return [[] for _ in range(len(matrix))]
        return await self._run(
            self._search_sync, table, user_id, matrix, column, k, include_expired, exact
        )

    def _search_sync(
        self,
        table: str,
        user_id: str,
        queries: np.ndarray,
        column: str,
        k: int,
        include_expired: bool,
        exact: bool = False,
    ) -> list[list[tuple[str, float]]]:
        cached = self._matrices.get(table, user_id, column)
        if cached is not None:
            return cached.search(queries, k, include_expired=include_expired, exact=exact)
        return self._ann_search(table, user_id, queries, column, k, include_expired)

    def _ann_search(
        self,
        table: str,
        user_id: str,
        queries: np.ndarray,
        column: str,
        k: int,
        include_expired: bool,
    ) -> list[list[tuple[str, float]]]:
        where = tenant_filter(table, user_id, column, include_expired)
        handle = self._handle(table)
        return lance_search(handle, TABLES[table][0], queries, column=column, k=k, where=where)

    async def get_vectors(
        self, table: str, user_id: str, ids: Sequence[str], column: str = "vector"
    ) -> dict[str, np.ndarray]:
        """The tenant's stored vectors for ``ids``, expired included; missing ones omitted."""
        self._check_column(table, column)
        if not ids:
            return {}
        return await self._run(self._get_vectors_sync, table, user_id, list(ids), column)

    def _get_vectors_sync(
        self, table: str, user_id: str, ids: Sequence[str], column: str
    ) -> dict[str, np.ndarray]:
        # Loading the tenant's matrix once beats a LanceDB scan per search (≈13 ms each).
        cached = self._matrices.get(table, user_id, column)
        if cached is not None:
            vectors = ((item_id, cached.get(item_id)) for item_id in ids)
            return {item_id: vector for item_id, vector in vectors if vector is not None}
        handle = self._handle(table)
        id_column = TABLES[table][0]
        base = tenant_filter(table, user_id, column, include_expired=True)
        found: dict[str, np.ndarray] = {}
        for batch in chunks(ids, FILTER_BATCH):
            where = f"{base} AND {in_list(id_column, batch)}"
            scan = handle.search().where(where).select([id_column, column]).limit(None).to_arrow()
            matrix = column_matrix(scan.column(column), self.dim)
            found.update(zip(scan.column(id_column).to_pylist(), matrix, strict=True))
        return found

    # -- ann index ---------------------------------------------------------

    async def ensure_ann_index(
        self, table: str, *, column: str = "vector", min_rows: int = 50_000
    ) -> bool:
        """Build (or rebuild) an ``IVF_HNSW_SQ`` cosine index on ``column`` when it is due.

        Due means the table has at least ``min_rows`` rows and either no index on
        the column or more than 10 % of rows unindexed. Returns whether it built one.
        Slow on large tables; meant for a background worker.
        """
        self._check_column(table, column)
        return await self._run(self._ensure_ann_index_sync, table, column, min_rows)

    def _ensure_ann_index_sync(self, table: str, column: str, min_rows: int) -> bool:
        return ensure_ann_index(self._handle(table), column, min_rows)
