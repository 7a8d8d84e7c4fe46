"""The in-process matrices of tenants' vector columns, and when they are saved to disk.

``LanceVectorIndex`` calls everything here from its single LanceDB thread. A tenant's
column loads on its first search, as an exact ``TenantMatrix`` under ``ann_min_rows``
rows and as an ``IvfMatrix`` from there, and is then kept current write-through. Every
matrix counts against one LRU budget.

An IVF is expensive to build (minutes at a million rows), so it is saved under
``snapshot_dir`` (``snapshots.py``) and reused after a restart. The rule that keeps a saved
index true to the table: a snapshot on disk always equals the tenant's rows. ``opened``
deletes snapshots made at another table version; ``forget`` deletes a tenant's snapshots of
a table before its rows are written; ``persist`` (at close) saves the cached IVFs that have
none and records the table's current version in the others, unless another process wrote
the table meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lycheemem.domain.ports import VectorRow
from lycheemem.storage.lance.cache import CacheKey, VectorCache
from lycheemem.storage.lance.ivf import IvfMatrix
from lycheemem.storage.lance.matrix import TenantMatrix
from lycheemem.storage.lance.snapshots import Snapshot, SnapshotStore
from lycheemem.storage.lance.tables import (
    TABLES,
    VECTOR_COLUMNS,
    column_matrix,
    has_expired,
    sql_literal,
    tenant_filter,
)

__all__ = ["TenantMatrices"]

log = logging.getLogger(__name__)

# Headroom the loaded matrix gets over its row count (see TenantMatrix.from_arrays).
_LOAD_SLACK = 1.25
# RAM an IvfMatrix row costs: its id (see matrix.ID_OVERHEAD_BYTES), flags and cluster id.
_IVF_ROW_BYTES = 128


class TenantMatrices:
    """Cached per-(user, table, column) matrices over open LanceDB tables.

    Promises: ``get`` returns a matrix holding exactly the tenant's rows of the column
    (expired included, flagged), or None where the strategy or the budget says use LanceDB;
    after ``put_rows``/``remove``/``set_expired`` the cached matrices agree with the table.
    """

    def __init__(
        self,
        *,
        dim: int,
        strategy: str,
        cache_mb: int,
        ann_min_rows: int,
        spill_dir: Path,
        snapshot_dir: Path,
    ) -> None:
        self.dim = dim
        self.strategy = strategy
        self.ann_min_rows = ann_min_rows
        self.spill_dir = spill_dir
        self.snapshots = SnapshotStore(snapshot_dir, dim=dim, spill_dir=spill_dir)
        self._cache = VectorCache(cache_mb * 1024 * 1024)
        self._tables: dict[str, Any] = {}
        self._opened_at: dict[str, int] = {}  # table -> its version when opened
        self._stop_warming = False

    def opened(self, tables: dict[str, Any]) -> None:
        """Start serving over these open table handles; delete snapshots made at another
        version of their table."""
        self._tables = tables
        self._opened_at = {table: int(handle.version) for table, handle in tables.items()}
        self._stop_warming = False
        pruned = self.snapshots.prune(self._current)
        if pruned:
            log.info("deleted %d saved vector indexes that no longer match their table", pruned)

    def _current(self, meta: Snapshot) -> bool:
        table = meta.get("table")
        return table in self._opened_at and meta.get("table_version") == self._opened_at[table]

    def warm(self) -> int:
        """Load saved indexes into the cache while they fit the budget, without evicting or
        building anything (``auto`` only); returns how many were loaded. ``stop_warming``
        ends it between two indexes."""
        loaded = 0
        for _, meta in self.snapshots.metas() if self.strategy == "auto" else ():
            if self._stop_warming:
                break
            if meta is None or meta.get("table") not in self._tables:
                continue
            key = (str(meta["user_id"]), str(meta["table"]), str(meta["column"]))
            rows = self._tables[key[1]].count_rows(f"user_id = {sql_literal(key[0])}")
            room = self._cache.total_bytes + rows * _IVF_ROW_BYTES
            if key in self._cache or rows < self.ann_min_rows or not self._cache.fits(room):
                continue
            matrix = self._reuse(key, rows)
            if matrix is not None:
                self._cache.put(key, matrix)
                loaded += 1
        return loaded

    def stop_warming(self) -> None:
        """Make a running ``warm`` return after the index it is loading."""
        self._stop_warming = True

    def describe(self) -> list[dict[str, object]]:
        """The cached matrices, least recently used first: key, kind, rows and RAM bytes."""
        return self._cache.describe()

    def clear(self) -> None:
        """Forget every cached matrix (snapshots stay on disk)."""
        self._cache.clear()
        self._tables = {}

    # -- loading -------------------------------------------------------------

    def get(self, table: str, user_id: str, column: str) -> TenantMatrix | None:
        """The tenant's cached matrix, loading it if the strategy allows; None means use ann.

        In ``auto`` mode a tenant's column of ``ann_min_rows`` rows or more loads as an
        ``IvfMatrix`` (from its snapshot when one is intact); either kind must fit the
        cache budget.
        """
        if self.strategy == "ann":
            return None
        key = (user_id, table, column)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        rows, indexed = 0, False
        if self.strategy == "auto":
            rows = self._tables[table].count_rows(f"user_id = {sql_literal(user_id)}")
            indexed = rows >= self.ann_min_rows
            per_row = _IVF_ROW_BYTES if indexed else _LOAD_SLACK * self.dim * 4
            if not self._cache.fits(int(rows * per_row)):
                return None
        loaded: TenantMatrix | None = self._reuse(key, rows) if indexed else None
        if loaded is None:
            loaded = self._load(table, user_id, column, indexed=indexed)
            if isinstance(loaded, IvfMatrix):
                self._save(key, loaded, rows)
        self._cache.put(key, loaded)
        # A load that turns out above the budget still serves this one search in auto mode.
        self._cache.enforce(keep=key, allow_oversize=self.strategy == "exact")
        return loaded

    def _load(self, table: str, user_id: str, column: str, *, indexed: bool) -> TenantMatrix:
        """One filtered scan of the tenant's rows (expired included) into a matrix."""
        id_column = TABLES[table][0]
        flagged = has_expired(table)
        selected = [id_column, column] + (["expired"] if flagged else [])
        where = tenant_filter(table, user_id, column, include_expired=True)
        scan = self._tables[table].search().where(where).select(selected).limit(None).to_arrow()
        ids = scan.column(id_column).to_pylist()
        expired = None
        if flagged:
            # Null counts as not expired; numpy, not Arrow compute (its thread pool once hung
            # here in a test run on the loaded machine).
            flags = scan.column("expired").to_numpy(zero_copy_only=False)
            expired = np.equal(flags, True).astype(bool)
        matrix = column_matrix(scan.column(column), self.dim)
        del scan
        kind = "ivf" if indexed else "exact"
        log.info("loaded %d %s vectors of %s into the %s cache", len(ids), column, table, kind)
        built = (
            IvfMatrix.build(ids, matrix, expired, spill_dir=self.spill_dir)
            if indexed
            else TenantMatrix.from_arrays(ids, matrix, expired)
        )
        del matrix
        # Arrow's allocator keeps the scan's buffers for reuse; a big tenant's scan is
        # hundreds of MB that would otherwise stay resident after the load.
        pa.default_memory_pool().release_unused()
        return built

    # -- write-through -------------------------------------------------------

    def forget(self, table: str, user_id: str) -> None:
        """Delete the tenant's saved indexes of ``table``: called before its rows change."""
        for column in VECTOR_COLUMNS[table]:
            self.snapshots.discard((user_id, table, column))

    def put_rows(self, table: str, rows: Sequence[VectorRow]) -> None:
        """Apply written rows to the cached matrices of their tenants."""
        touched: set[CacheKey] = set()
        for row in rows:
            for column in VECTOR_COLUMNS[table]:
                key = (row.user_id, table, column)
                matrix = self._cache.peek(key)
                if matrix is None:
                    continue
                touched.add(key)
                vector = row.vector if column == "vector" else row.normalized_vector
                if vector is None:
                    matrix.remove(row.item_id)
                else:
                    matrix.put(row.item_id, vector, expired=row.expired)
        for key in touched:
            self._cache.enforce(keep=key, allow_oversize=self.strategy == "exact")

    def remove(self, table: str, user_id: str, ids: Sequence[str]) -> None:
        """Drop deleted ids from the tenant's cached matrices of ``table``."""
        for column in VECTOR_COLUMNS[table]:
            matrix = self._cache.peek((user_id, table, column))
            if matrix is not None:
                for item_id in ids:
                    matrix.remove(item_id)

    def set_expired(self, table: str, user_id: str, ids: Sequence[str], expired: bool) -> None:
        """Flag ids expired (or not) in the tenant's cached matrices of ``table``."""
        for column in VECTOR_COLUMNS[table]:
            matrix = self._cache.peek((user_id, table, column))
            if matrix is not None:
                for item_id in ids:
                    matrix.set_expired(item_id, expired)

    def drop_user(self, user_id: str) -> None:
        """Forget the tenant's cached matrices and saved indexes."""
        for table in TABLES:
            self.forget(table, user_id)
        self._cache.drop(self._cache.keys_of_user(user_id))

    # -- saved IVF indexes ---------------------------------------------------

    def _reuse(self, key: CacheKey, tenant_rows: int) -> IvfMatrix | None:
        """The saved index of ``key`` if it is intact, made at a table version of this run
        (or the one found at open) and for the row count the tenant has now; else None."""
        found = self.snapshots.load(key)
        if found is None:
            return None
        matrix, meta = found
        version = int(self._tables[key[1]].version)
        made_at = meta["table_version"]
        fresh = self._opened_at[key[1]] <= made_at <= version
        if meta["tenant_rows"] != tenant_rows or not fresh:
            log.warning("discarding the saved vector index of %s.%s: stale", key[1], key[2])
            self.snapshots.discard(key)
            return None
        log.info("reused the saved vector index of %s.%s (%d rows)", key[1], key[2], len(matrix))
        return matrix

    def _save(self, key: CacheKey, matrix: IvfMatrix, tenant_rows: int) -> None:
        version = int(self._tables[key[1]].version)
        try:
            self.snapshots.save(key, matrix, table_version=version, tenant_rows=tenant_rows)
        except OSError as error:
            # A full or read-only disk costs the next restart a rebuild, not this search.
            log.warning("could not save the vector index of %s.%s: %s", key[1], key[2], error)
            self.snapshots.discard(key)

    def persisting(self) -> bool:
        """Whether ``persist`` has anything to do (a cached IVF or a saved index)."""
        cached = any(isinstance(matrix, IvfMatrix) for _, matrix in self._cache.items())
        return cached or any(True for _ in self.snapshots.metas())

    def persist(self, latest_versions: dict[str, int]) -> None:
        """Save cached IVFs that have no snapshot and mark every snapshot current, for each
        table whose ``latest_versions`` entry (read from disk) is the version this process
        wrote last: where another process wrote too, nothing is vouched for."""
        for table, handle in self._tables.items():
            version = int(handle.version)
            if latest_versions.get(table) != version:
                log.warning("%s was written by another process: its saved indexes lapse", table)
                continue
            for key, matrix in self._cache.items():
                if key[1] != table or not isinstance(matrix, IvfMatrix):
                    continue
                if not self.snapshots.exists(key):
                    rows = handle.count_rows(f"user_id = {sql_literal(key[0])}")
                    self._save(key, matrix, rows)
            for _, meta in self.snapshots.metas():
                if meta is not None and meta.get("table") == table:
                    self.snapshots.recertify((meta["user_id"], table, meta["column"]), version)
