"""The exact in-process matrix of one tenant's table column (``TenantMatrix``).

Nothing here is thread-safe: ``LanceVectorIndex`` touches these objects only
from its single LanceDB thread, which serialises every read and write.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["COARSE_MIN_ROWS", "ID_OVERHEAD_BYTES", "MIN_CAPACITY", "TenantMatrix", "unit_rows"]

MIN_CAPACITY = 64
# Two-stage search for big matrices: a scan in a COARSE_DIM-dimensional principal subspace
# picks candidates, exact cosine ranks them. Below COARSE_MIN_ROWS the exact scan is cheap.
COARSE_MIN_ROWS = 20_000
COARSE_DIM = 64
COARSE_CANDIDATES = 1024
_COARSE_SAMPLE = 20_000
# Python-side cost of one id: the str, its list slot and its dict entry (an estimate).
ID_OVERHEAD_BYTES = 120


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
        capacity = max(capacity, MIN_CAPACITY)
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
        return arrays + len(self._ids) * ID_OVERHEAD_BYTES

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
        if self._dead >= MIN_CAPACITY and 4 * self._dead >= len(self._ids):
            self._compact()

    def _compact(self) -> None:
        used = len(self._ids)
        keep = np.flatnonzero(self._live[:used])
        count = len(keep)
        capacity = max(count + count // 4, MIN_CAPACITY)
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
