"""The in-process IVF index of a big tenant's column (``IvfMatrix``).

Centroids, ids and flags stay in RAM; the full rows live in a memory-mapped file.
Like ``TenantMatrix``, nothing here is thread-safe (one LanceDB thread uses it).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from itertools import compress
from pathlib import Path

import numpy as np

from lycheemem.storage.lance.matrix import (
    ID_OVERHEAD_BYTES,
    MIN_CAPACITY,
    TenantMatrix,
    unit_rows,
)

__all__ = ["IvfMatrix"]

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

    @classmethod
    def restore(
        cls,
        ids: Sequence[str],
        rows: np.ndarray,
        state: dict[str, np.ndarray],
        *,
        spill_dir: Path | None = None,
    ) -> IvfMatrix:
        """Rebuild an index from what ``export_state`` returned, the ids and the row matrix.

        ``rows`` (capacity, dim) holds the first ``len(ids)`` rows in the order exported.
        Raises ``ValueError`` when the parts do not fit together.
        """
        used, capacity = len(ids), rows.shape[0]
        counters = state["counters"]
        centroids = state["centroids"]
        offsets = state["offsets"]
        if not (used <= capacity and len(counters) == 3 and len(offsets) == len(centroids) + 1):
            raise ValueError("the saved index does not fit its rows")
        if centroids.ndim != 2 or centroids.shape[1] != rows.shape[1]:
            raise ValueError("the saved centroids do not fit the rows")
        built = cls(rows.shape[1], spill_dir=spill_dir)
        built._matrix = rows
        built._live = _padded(state["live"], used, capacity, False)
        built._expired = _padded(state["expired"], used, capacity, False)
        built._assign = _padded(state["assign"], used, capacity, -1)
        built._ids = list(ids)
        # Built in C (compress/zip): a comprehension costs seconds at a million rows.
        live = built._live[:used]
        present = np.flatnonzero(live).tolist()
        built._rows = dict(zip(compress(built._ids, live.tolist()), present, strict=True))
        built._centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        built._offsets = np.asarray(offsets, dtype=np.int64)
        built._sorted, built._dead, built._trained_on = (int(value) for value in counters)
        built._moved = {int(row) for row in state["moved"]}
        if built._sorted > used or built._offsets[-1] != built._sorted:
            raise ValueError("the saved cluster offsets do not fit the rows")
        if built._moved and max(built._moved) >= used:
            raise ValueError("the saved moved rows do not fit the rows")
        return built

    def export_state(self) -> dict[str, np.ndarray]:
        """Everything but the ids and rows that ``restore`` needs, as plain arrays."""
        used = len(self._ids)
        centroids = self._centroids
        if centroids is None:
            centroids = np.zeros((0, self.dim), dtype=np.float32)
        return {
            "live": self._live[:used].copy(),
            "expired": self._expired[:used].copy(),
            "assign": self._assign[:used].copy(),
            "offsets": self._offsets.copy(),
            "centroids": centroids.copy(),
            "moved": np.array(sorted(self._moved), dtype=np.int64),
            "counters": np.array([self._sorted, self._dead, self._trained_on], dtype=np.int64),
        }

    @property
    def ids(self) -> Sequence[str]:
        """The id of every used row, in row order (removed rows included; read only)."""
        return self._ids

    @property
    def rows(self) -> np.ndarray:
        """The whole (capacity, dim) row matrix, used rows first (read only)."""
        return self._matrix

    def use_rows(self, rows: np.ndarray) -> None:
        """Serve from ``rows`` from now on: an equal copy of ``rows`` (a persisted mapping)."""
        if rows.shape != self._matrix.shape:
            raise ValueError(f"rows of shape {rows.shape} cannot replace {self._matrix.shape}")
        self._matrix = rows

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
        return arrays + len(self._ids) * ID_OVERHEAD_BYTES

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
        capacity = max(count + count // 4, MIN_CAPACITY)
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


def _padded(values: np.ndarray, used: int, capacity: int, fill: bool | int) -> np.ndarray:
    """``values`` (exactly ``used`` long) copied into a ``capacity``-long array padded with
    ``fill``; raises ``ValueError`` on another length."""
    if values.ndim != 1 or len(values) != used:
        raise ValueError(f"a saved array of {len(values)} entries does not fit {used} rows")
    padded = np.full(capacity, fill, dtype=values.dtype)
    padded[:used] = values
    return padded
