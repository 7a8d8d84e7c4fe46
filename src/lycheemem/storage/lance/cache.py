"""The LRU of in-process matrices, one per (user, table, column), bounded by bytes.

Nothing here is thread-safe: ``LanceVectorIndex`` touches these objects only
from its single LanceDB thread, which serialises every read and write.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from lycheemem.storage.lance.ivf import IvfMatrix
from lycheemem.storage.lance.matrix import TenantMatrix, unit_rows

# unit_rows stays importable from here for older callers.
__all__ = ["CacheKey", "VectorCache", "unit_rows"]

# (user_id, table, column)
CacheKey = tuple[str, str, str]


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

    def items(self) -> list[tuple[CacheKey, TenantMatrix]]:
        """Every (key, matrix), least recently used first, without touching recency."""
        return list(self._entries.items())

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
