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
        return arrays + len(self._ids) * _ID_OVERHEAD_BYTES

    def put(self, item_id: str, vector: np.ndarray, *, expired: bool = False) -> None:
        """Insert or replace the vector of ``item_id``."""
        row = self._rows.get(item_id)
        if row is None:
            row = self._append(item_id)
        self._matrix[row] = vector
        self._expired[row] = expired

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
        self._ids = [self._ids[row] for row in keep]
        self._rows = {item_id: row for row, item_id in enumerate(self._ids)}
        self._matrix, self._live, self._expired = matrix, live, expired
        self._dead = 0

    def get(self, item_id: str) -> np.ndarray | None:
        """A copy of the vector of ``item_id`` (expired or not), or None."""
        row = self._rows.get(item_id)
        return None if row is None else self._matrix[row].copy()

    def search(
        self, queries: np.ndarray, k: int, *, include_expired: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Top ``k`` (id, cosine) per row of ``queries`` (n, dim), best first."""
        used = len(self._ids)
        if used == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        scores = self._matrix[:used] @ queries.T
        searchable = self._live[:used]
        if not include_expired:
            searchable = searchable & ~self._expired[:used]
        if not searchable.all():
            scores[~searchable] = -np.inf
        take = min(k, used)
        if take < used:
            top = np.argpartition(scores, used - take, axis=0)[used - take :]
        else:
            top = np.broadcast_to(np.arange(used)[:, None], scores.shape)
        return [self._ranked(top[:, col], scores[top[:, col], col]) for col in range(len(queries))]

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
        if total > self.budget_bytes and keep in self._entries and not allow_oversize:
            del self._entries[keep]
