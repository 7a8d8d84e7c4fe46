"""In-process matrices for exact vector search, one per (user, table, column).

Nothing here is thread-safe: ``LanceVectorIndex`` touches these objects only
from its single LanceDB thread, which serialises every read and write.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["CacheKey", "TenantMatrix", "VectorCache", "unit_rows"]

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
        self._matrix = np.zeros((capacity, dim), dtype=np.float32)
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
        count = len(ids)
        built = cls(matrix.shape[1], capacity=count + count // 4)
        built._matrix[:count] = matrix
        built._live[:count] = True
        if expired is not None:
            built._expired[:count] = expired
        built._ids = list(ids)
        built._rows = {item_id: row for row, item_id in enumerate(built._ids)}
        duplicates = count - len(built._rows)
        if duplicates:
            built._mask_shadowed()
        return built

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
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
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
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
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
