"""In-process matrices for exact vector search, one per (user, table, column).

Nothing here is thread-safe: ``LanceVectorIndex`` touches these objects only
from its single LanceDB thread, which serialises every read and write.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["CacheKey", "IvfMatrix", "TenantMatrix", "VectorCache", "unit_rows"]

# (user_id, table, column)
CacheKey = tuple[str, str, str]

_MIN_CAPACITY = 64
# Two-stage search for big matrices: a scan in a COARSE_DIM-dimensional principal subspace
# picks candidates, exact cosine ranks them. Below COARSE_MIN_ROWS the exact scan is cheap.
COARSE_MIN_ROWS = 20_000
COARSE_DIM = 64
COARSE_CANDIDATES = 1024
_COARSE_SAMPLE = 20_000
# Python-side cost of one id: the str, its list slot and its dict entry (an estimate).
_ID_OVERHEAD_BYTES = 120


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Return a float32 copy of ``vectors`` (n, d) with every non-zero row L2-normalised."""
    matrix = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


class TenantMatrix:
    """The vectors of one tenant's table column in a growable float32 matrix.

    Promises: ``search`` scores only rows that are present (and, unless asked,
    not expired) by dot product, which is cosine for the L2-normalised vectors
    it is given, clipped to [-1, 1], best first. ``put`` is amortised O(1):
    the matrix grows geometrically; removed rows are masked and compacted
    once they are a quarter of the matrix.

    From ``COARSE_MIN_ROWS`` rows on, ``search`` is two-stage: the rows are also kept
    projected onto the data's top ``COARSE_DIM`` principal directions (a quarter of the
    bytes to scan for 256-d vectors), that scan picks ``COARSE_CANDIDATES`` rows per query
    (at least 16 k), and only those are scored exactly. The scores returned are always
    exact; a true top-k row can be missed only if its projection ranks below all those
    candidates (recall against the exact scan is measured in ``bench/vector_search.py``).
    """

    def __init__(self, dim: int, capacity: int = 0) -> None:
        capacity = max(capacity, _MIN_CAPACITY)
        self.dim = dim
        self._matrix = self._allocate(capacity)
        self._live = np.zeros(capacity, dtype=bool)
        self._expired = np.zeros(capacity, dtype=bool)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._dead = 0
        self._basis: np.ndarray | None = None  # (dim, COARSE_DIM) once two-stage
        self._coarse: np.ndarray | None = None  # (capacity, COARSE_DIM), rows @ basis

    @classmethod
    def from_arrays(
        cls, ids: Sequence[str], matrix: np.ndarray, expired: np.ndarray | None = None
    ) -> TenantMatrix:
        """Build from ``len(ids)`` rows of ``matrix``; later duplicates of an id win."""
        built = cls(matrix.shape[1], capacity=len(ids) + len(ids) // 4)
        built._fill(ids, matrix, expired)
        return built

    def _fill(
        self, ids: Sequence[str], matrix: np.ndarray, expired: np.ndarray | None = None
    ) -> None:
        count = len(ids)
        if matrix is not self._matrix:
            self._matrix[:count] = matrix
        self._live[:count] = True
        if expired is not None:
            self._expired[:count] = expired
        self._ids = list(ids)
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        if count - len(self._rows):
            self._mask_shadowed()

    def _allocate(self, capacity: int) -> np.ndarray:
        """A zeroed (capacity, dim) float32 matrix for the rows (in RAM here)."""
        return np.zeros((capacity, self.dim), dtype=np.float32)

    def _mask_shadowed(self) -> None:
        for row, item_id in enumerate(self._ids):
            if self._rows[item_id] != row:
                self._live[row] = False
                self._dead += 1

    def __len__(self) -> int:
        """Number of rows present (expired rows included)."""
        return len(self._rows)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    @property
    def nbytes(self) -> int:
        """Approximate memory held, in bytes (allocated capacity, not just rows used)."""
        arrays = self._matrix.nbytes + self._live.nbytes + self._expired.nbytes
        if self._coarse is not None:
            arrays += self._coarse.nbytes
        return arrays + len(self._ids) * _ID_OVERHEAD_BYTES

    def put(self, item_id: str, vector: np.ndarray, *, expired: bool = False) -> None:
        """Insert or replace the vector of ``item_id``."""
        row = self._rows.get(item_id)
        if row is None:
            row = self._append(item_id)
        self._matrix[row] = vector
        self._expired[row] = expired
        if self._coarse is not None and self._basis is not None:
            self._coarse[row] = self._matrix[row] @ self._basis

    def _append(self, item_id: str) -> int:
        row = len(self._ids)
        if row == self._matrix.shape[0]:
            self._grow(2 * row)
        self._ids.append(item_id)
        self._rows[item_id] = row
        self._live[row] = True
        return row

    def _grow(self, capacity: int) -> None:
        used = len(self._ids)
        matrix = self._allocate(capacity)
        matrix[:used] = self._matrix[:used]
        live = np.zeros(capacity, dtype=bool)
        live[:used] = self._live[:used]
        expired = np.zeros(capacity, dtype=bool)
        expired[:used] = self._expired[:used]
        if self._coarse is not None:
            coarse = np.zeros((capacity, self._coarse.shape[1]), dtype=np.float32)
            coarse[:used] = self._coarse[:used]
            self._coarse = coarse
        self._matrix, self._live, self._expired = matrix, live, expired

    def set_expired(self, item_id: str, expired: bool) -> None:
        """Flag ``item_id`` expired or not; unknown ids are ignored."""
        row = self._rows.get(item_id)
        if row is not None:
            self._expired[row] = expired

    def remove(self, item_id: str) -> None:
        """Drop ``item_id``; unknown ids are ignored."""
        row = self._rows.pop(item_id, None)
        if row is None:
            return
        self._live[row] = False
        self._dead += 1
        if self._dead >= _MIN_CAPACITY and 4 * self._dead >= len(self._ids):
            self._compact()

    def _compact(self) -> None:
        used = len(self._ids)
        keep = np.flatnonzero(self._live[:used])
        count = len(keep)
        capacity = max(count + count // 4, _MIN_CAPACITY)
        matrix = self._allocate(capacity)
        matrix[:count] = self._matrix[keep]
        expired = np.zeros(capacity, dtype=bool)
        expired[:count] = self._expired[keep]
        live = np.zeros(capacity, dtype=bool)
        live[:count] = True
        if self._coarse is not None:
            coarse = np.zeros((capacity, self._coarse.shape[1]), dtype=np.float32)
            coarse[:count] = self._coarse[keep]
            self._coarse = coarse
        self._ids = [self._ids[row] for row in keep]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._matrix, self._live, self._expired = matrix, live, expired
        self._dead = 0

    def get(self, item_id: str) -> np.ndarray | None:
        """A copy of the vector of ``item_id`` (expired or not), or None."""
        row = self._rows.get(item_id)
        return None if row is None else self._matrix[row].copy()

    def search(
        self, queries: np.ndarray, k: int, *, include_expired: bool = False, exact: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Top ``k`` (id, cosine) per row of ``queries`` (n, dim), best first; ``exact`` skips
        the two-stage shortcut (for measuring its recall)."""
        used = len(self._ids)
        if used == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        searchable = self._live[:used]
        if not include_expired:
            searchable = searchable & ~self._expired[:used]
        if not exact and self._two_stage(used):
            return self._search_two_stage(queries, k, searchable)
        scores = self._matrix[:used] @ queries.T
        if not searchable.all():
            scores[~searchable] = -np.inf
        take = min(k, used)
        if take < used:
            top = np.argpartition(scores, used - take, axis=0)[used - take :]
        else:
            top = np.broadcast_to(np.arange(used)[:, None], scores.shape)
        return [self._ranked(top[:, col], scores[top[:, col], col]) for col in range(len(queries))]

    def _two_stage(self, used: int) -> bool:
        if used < COARSE_MIN_ROWS or self.dim < 2 * COARSE_DIM:
            return False
        if self._coarse is None:
            self._build_coarse(used)
        return True

    def _build_coarse(self, used: int) -> None:
        """Project every row onto the top principal directions of (a sample of) the rows.

        Uncentred (second moment, not covariance): the dot products being approximated are
        uncentred too.
        """
        live = np.flatnonzero(self._live[:used])
        if len(live) > _COARSE_SAMPLE:
            live = np.random.default_rng(0).choice(live, _COARSE_SAMPLE, replace=False)
        sample = self._matrix[np.sort(live)].astype(np.float64)
        _, vectors = np.linalg.eigh(sample.T @ sample)
        self._basis = np.ascontiguousarray(vectors[:, ::-1][:, :COARSE_DIM], dtype=np.float32)
        self._coarse = self._matrix @ self._basis

    def _search_two_stage(
        self, queries: np.ndarray, k: int, searchable: np.ndarray
    ) -> list[list[tuple[str, float]]]:
        assert self._coarse is not None and self._basis is not None
        used = len(searchable)
        approx = self._coarse[:used] @ (queries @ self._basis).T
        if not searchable.all():
            approx[~searchable] = -np.inf
        pick = min(used, max(COARSE_CANDIDATES, 16 * k))
        results: list[list[tuple[str, float]]] = []
        for col in range(len(queries)):
            rows = np.argpartition(approx[:, col], used - pick)[used - pick :]
            rows = rows[np.isfinite(approx[rows, col])]
            if not len(rows):
                results.append([])
                continue
            exact = self._matrix[rows] @ queries[col]
            take = min(k, len(rows))
            best = np.argpartition(exact, len(rows) - take)[len(rows) - take :]
            results.append(self._ranked(rows[best], exact[best]))
        return results

    def _ranked(self, rows: np.ndarray, scores: np.ndarray) -> list[tuple[str, float]]:
        order = np.argsort(-scores, kind="stable")
        return [
            (self._ids[rows[i]], float(min(1.0, max(-1.0, scores[i]))))
            for i in order
            if np.isfinite(scores[i])
        ]


# In-process IVF of big tenants (IvfMatrix): about sqrt(n) clusters, a share of them probed.
IVF_MIN_CLUSTERS = 16
IVF_MAX_CLUSTERS = 4096
IVF_PROBE_SHARE = 0.04
IVF_MIN_PROBES = 8
_IVF_TRAIN_ROUNDS = 6
_IVF_SAMPLE_PER_CLUSTER = 32
_IVF_CHUNK = 32_768
# Rows outside the cluster order (appended or re-clustered since) that trigger a regrouping.
_IVF_TAIL_SHARE = 0.1
_IVF_MIN_TAIL = 2048


class IvfMatrix(TenantMatrix):
    """A big tenant's vectors: full rows in a memory-mapped scratch file, an IVF index in RAM.

    Promises what ``TenantMatrix`` promises, except that ``search`` is approximate: it
    scores exactly only the rows of the clusters (spherical k-means centroids) nearest each
    query, ``IVF_PROBE_SHARE`` of them, plus rows written since the last regrouping. The
    scores returned are exact cosines. ``exact=True`` scans every row (for measuring recall).

    The full float32 rows live in an unlinked file under ``spill_dir`` mapped into memory:
    the kernel pages them in and out, so they cost page cache, not process memory that
    must stay resident. Rows are kept grouped by cluster, so a probe reads contiguous
    slices. ``nbytes`` counts what stays in RAM (ids, flags, centroids), not the mapped rows.
    Without ``spill_dir`` the rows stay in an ordinary array (tests, small tenants).
    """

    def __init__(self, dim: int, capacity: int = 0, *, spill_dir: Path | None = None) -> None:
        self._spill_dir = spill_dir
        super().__init__(dim, capacity)
        self._centroids: np.ndarray | None = None
        self._assign = np.full(self._matrix.shape[0], -1, dtype=np.int32)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._sorted = 0  # rows [0, _sorted) lie grouped by cluster along _offsets
        self._moved: set[int] = set()  # grouped rows whose new vector joined another cluster
        self._trained_on = 0

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        matrix: np.ndarray,
        expired: np.ndarray | None = None,
        *,
        spill_dir: Path | None = None,
    ) -> IvfMatrix:
        """Index ``len(ids)`` rows of ``matrix`` (later duplicates of an id win)."""
        built = cls(matrix.shape[1], spill_dir=spill_dir)
        count = len(ids)
        # Clustered from the given array, then written to the mapped file once, in order.
        built._matrix = np.asarray(matrix, dtype=np.float32)
        built._live = np.zeros(count, dtype=bool)
        built._expired = np.zeros(count, dtype=bool)
        built._assign = np.full(count, -1, dtype=np.int32)
        built._fill(ids, built._matrix, expired)
        built._regroup()
        return built

    def _allocate(self, capacity: int) -> np.ndarray:
        if self._spill_dir is None:
            return super()._allocate(capacity)
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="vectors-", suffix=".f32", dir=self._spill_dir)
        os.close(handle)
        try:
            return np.memmap(name, dtype=np.float32, mode="w+", shape=(capacity, self.dim))
        finally:
            # The mapping keeps the (sparse) file alive; nothing is left behind on exit.
            os.unlink(name)

    @property
    def nbytes(self) -> int:
        """Bytes held in RAM: flags, cluster ids, centroids and ids (not the mapped rows)."""
        arrays = self._live.nbytes + self._expired.nbytes + self._assign.nbytes
        arrays += self._offsets.nbytes
        if self._centroids is not None:
            arrays += self._centroids.nbytes
        return arrays + len(self._ids) * _ID_OVERHEAD_BYTES

    @property
    def clusters(self) -> int:
        """Number of clusters (0 before the first grouping)."""
        return 0 if self._centroids is None else len(self._centroids)

    def _two_stage(self, used: int) -> bool:
        return False

    def put(self, item_id: str, vector: np.ndarray, *, expired: bool = False) -> None:
        """Insert or replace the vector of ``item_id``; regroups once the tail is large."""
        super().put(item_id, vector, expired=expired)
        if self._centroids is None or not self.clusters:
            return
        row = self._rows[item_id]
        cluster = int(np.argmax(self._centroids @ self._matrix[row]))
        if row >= self._sorted:
            self._assign[row] = cluster
        elif cluster != self._assign[row]:
            self._moved.add(row)
        unordered = len(self._ids) - self._sorted + len(self._moved)
        if unordered > max(_IVF_MIN_TAIL, _IVF_TAIL_SHARE * len(self._rows)):
            self._regroup()

    def _grow(self, capacity: int) -> None:
        super()._grow(capacity)
        assign = np.full(capacity, -1, dtype=np.int32)
        assign[: len(self._assign)] = self._assign
        self._assign = assign

    def _compact(self) -> None:
        self._regroup()

    def _regroup(self) -> None:
        """Drop removed rows and rewrite the rest grouped by nearest centroid.

        Centroids are (re)trained when missing or when the live rows doubled or halved.
        """
        used = len(self._ids)
        keep = np.flatnonzero(self._live[:used])
        count = len(keep)
        if self._centroids is None or not (self._trained_on / 2 <= count <= 2 * self._trained_on):
            self._centroids = self._train(keep)
            self._trained_on = count
        assign = self._nearest(keep)
        order = np.argsort(assign, kind="stable")
        rows = keep[order]
        capacity = max(count + count // 4, _MIN_CAPACITY)
        matrix = self._allocate(capacity)
        for start in range(0, count, _IVF_CHUNK):
            end = min(count, start + _IVF_CHUNK)
            matrix[start:end] = self._matrix[rows[start:end]]
        expired = np.zeros(capacity, dtype=bool)
        expired[:count] = self._expired[rows]
        live = np.zeros(capacity, dtype=bool)
        live[:count] = True
        self._assign = np.full(capacity, -1, dtype=np.int32)
        self._assign[:count] = assign[order]
        counts = np.bincount(assign, minlength=len(self._centroids))
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._ids = [self._ids[row] for row in rows]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._matrix, self._live, self._expired = matrix, live, expired
        self._sorted, self._moved, self._dead = count, set(), 0

    def _train(self, keep: np.ndarray) -> np.ndarray:
        """Spherical k-means centroids of a sample of the ``keep`` rows (seeded, repeatable)."""
        count = len(keep)
        clusters = min(IVF_MAX_CLUSTERS, max(IVF_MIN_CLUSTERS, int(math.sqrt(max(count, 1)))))
        rng = np.random.default_rng(0)
        size = min(count, clusters * _IVF_SAMPLE_PER_CLUSTER)
        sample = self._matrix[np.sort(rng.choice(keep, size, replace=False))] if count else None
        if sample is None or size < clusters:
            return np.zeros((0, self.dim), dtype=np.float32)
        centroids = sample[rng.choice(size, clusters, replace=False)].copy()
        for _ in range(_IVF_TRAIN_ROUNDS):
            nearest = np.argmax(sample @ centroids.T, axis=1)
            order = np.argsort(nearest, kind="stable")
            members = np.bincount(nearest, minlength=clusters)
            present = np.flatnonzero(members)
            starts = np.concatenate([[0], np.cumsum(members[present])[:-1]])
            sums = sample[rng.choice(size, clusters)]  # empty clusters restart from a row
            sums[present] = np.add.reduceat(sample[order], starts, axis=0)
            centroids = unit_rows(sums)
        return centroids

    def _nearest(self, rows: np.ndarray) -> np.ndarray:
        assert self._centroids is not None
        if not len(self._centroids):
            return np.zeros(len(rows), dtype=np.int32)
        found = np.empty(len(rows), dtype=np.int32)
        for start in range(0, len(rows), _IVF_CHUNK):
            part = self._matrix[rows[start : start + _IVF_CHUNK]]
            found[start : start + _IVF_CHUNK] = np.argmax(part @ self._centroids.T, axis=1)
        return found

    def probes(self) -> int:
        """How many clusters each query scans."""
        return min(self.clusters, max(IVF_MIN_PROBES, math.ceil(IVF_PROBE_SHARE * self.clusters)))

    def search(
        self, queries: np.ndarray, k: int, *, include_expired: bool = False, exact: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Top ``k`` (id, cosine) per query row, from the nearest clusters unless ``exact``."""
        used = len(self._ids)
        if exact or not self.clusters or used == 0 or k <= 0:
            return super().search(queries, k, include_expired=include_expired, exact=True)
        searchable = self._live[:used]
        if not include_expired:
            searchable = searchable & ~self._expired[:used]
        extra = np.arange(self._sorted, used)
        if self._moved:
            extra = np.concatenate([np.fromiter(self._moved, dtype=np.int64), extra])
        assert self._centroids is not None
        nearest = queries @ self._centroids.T
        probes = self.probes()
        results = []
        for col, query in enumerate(queries):
            chosen = np.argpartition(-nearest[col], probes - 1)[:probes]
            row_parts, score_parts = [extra], [self._matrix[extra] @ query]
            for cluster in np.sort(chosen):
                start, end = self._offsets[cluster], self._offsets[cluster + 1]
                if end > start:
                    row_parts.append(np.arange(start, end))
                    score_parts.append(self._matrix[start:end] @ query)
            rows = np.concatenate(row_parts)
            scores = np.concatenate(score_parts)
            if self._moved:
                rows, first = np.unique(rows, return_index=True)
                scores = scores[first]
            ok = searchable[rows]
            rows, scores = rows[ok], scores[ok]
            take = min(k, len(rows))
            if take < len(rows):
                best = np.argpartition(scores, len(rows) - take)[len(rows) - take :]
                rows, scores = rows[best], scores[best]
            results.append(self._ranked(rows, scores))
        return results


class VectorCache:
    """An LRU of ``TenantMatrix`` objects bounded by their total bytes.

    Promises: after ``enforce`` the total is within ``budget_bytes``, except
    that the one entry it was told to keep may stay alone above the budget.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[CacheKey, TenantMatrix] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def total_bytes(self) -> int:
        """Bytes held by all cached matrices."""
        return sum(matrix.nbytes for matrix in self._entries.values())

    def fits(self, nbytes: int) -> bool:
        """Whether a matrix of ``nbytes`` could be cached at all."""
        return nbytes <= self.budget_bytes

    def get(self, key: CacheKey) -> TenantMatrix | None:
        """The cached matrix, marked most recently used, or None."""
        matrix = self._entries.get(key)
        if matrix is not None:
            self._entries.move_to_end(key)
        return matrix

    def peek(self, key: CacheKey) -> TenantMatrix | None:
        """The cached matrix without touching its recency (for write-through)."""
        return self._entries.get(key)

    def put(self, key: CacheKey, matrix: TenantMatrix) -> None:
        """Cache ``matrix`` as the most recently used entry."""
        self._entries[key] = matrix
        self._entries.move_to_end(key)

    def drop(self, keys: Iterable[CacheKey]) -> None:
        """Forget ``keys`` (missing ones are ignored)."""
        for key in keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def describe(self) -> list[dict[str, object]]:
        """Per entry, least recently used first: its key, kind (exact or ivf), rows and bytes."""
        return [
            {
                "user_id": key[0],
                "table": key[1],
                "column": key[2],
                "kind": "ivf" if isinstance(matrix, IvfMatrix) else "exact",
                "rows": len(matrix),
                "bytes": matrix.nbytes,
            }
            for key, matrix in self._entries.items()
        ]

    def keys_of_user(self, user_id: str) -> list[CacheKey]:
        """The cached keys of one tenant."""
        return [key for key in self._entries if key[0] == user_id]

    def enforce(self, keep: CacheKey | None = None, *, allow_oversize: bool = False) -> None:
        """Evict least recently used entries until the total fits the budget.

        ``keep`` is evicted last; it survives alone above the budget only when
        ``allow_oversize`` is true.
        """
        total = self.total_bytes
        for key in list(self._entries):
            if total <= self.budget_bytes:
                return
            if key != keep:
                total -= self._entries.pop(key).nbytes
        oversize = total > self.budget_bytes and not allow_oversize
        if oversize and keep is not None and keep in self._entries:
            del self._entries[keep]
