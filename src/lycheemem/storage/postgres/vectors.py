"""Vectors of records, composites and skills in pgvector (``VectorIndex``).

One ``vectors`` table keyed ``(kind, user_id, item_id)``; cosine distance ``<=>`` on
``vector::vector(dim)`` with an HNSW expression index per vector column. Every search
filters by tenant inside the query, and ``hnsw.iterative_scan = relaxed_order`` makes the
index keep scanning until ``k`` rows of that tenant pass the filter; the few rows that
relaxed order may return out of place are re-sorted here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lycheemem.domain.models import VectorRow
from lycheemem.errors import ConfigError, EmbeddingMismatch, StorageError
from lycheemem.storage.lance.cache import unit_rows
from lycheemem.storage.postgres.database import PgDatabase

__all__ = ["PgVectorIndex"]

_COLUMNS = {
    "memory_records": ("vector", "normalized_vector"),
    "composite_records": ("vector", "normalized_vector"),
    "skills": ("vector",),
}
_HAS_EXPIRED = {"memory_records", "composite_records"}
STRATEGIES = ("auto", "exact", "ann")
"""``exact``: scan the tenant's rows (recall 1); ``ann``: the HNSW index; ``auto``: exact up to
``exact_max_rows`` rows of the tenant's table, HNSW above."""


def _literal(vector: np.ndarray) -> str:
    """pgvector's text form of one vector (bound as a parameter, never spliced)."""
    return "[" + ",".join(map(str, vector.tolist())) + "]"


def _parse(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


class PgVectorIndex:
    """Implements ``VectorIndex`` on PostgreSQL with pgvector (cosine similarity)."""

    def __init__(
        self,
        db: PgDatabase,
        *,
        dim: int,
        strategy: str = "auto",
        exact_max_rows: int = 50_000,
        ef_search: int = 100,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"vector search strategy must be one of {STRATEGIES}")
        self._db = db
        self.dim = int(dim)
        self.strategy = strategy
        self.exact_max_rows = exact_max_rows
        self._ef_search = ef_search

    async def open(self) -> None:
        """Create the HNSW indexes for this dimension (idempotent)."""
        async with self._db.owner() as conn:
            for column in ("vector", "normalized_vector"):
                await conn.execute(
                    f"CREATE INDEX IF NOT EXISTS vectors_hnsw_{column}_{self.dim} ON vectors"
                    f" USING hnsw (({column}::vector({self.dim})) vector_cosine_ops)"
                    f" WHERE vector_dims({column}) = {self.dim}"
                )

    async def ping(self) -> None:
        """Raise unless the database answers."""
        await self._db.ping()

    async def close(self) -> None:
        """Nothing to release: the pool belongs to ``PgDatabase``."""

    def _check_table(self, table: str, column: str = "vector") -> None:
        if column not in _COLUMNS.get(table, ()):
            raise StorageError(f"vector table {table!r} has no vector column {column!r}")

    def _unit(self, matrix: np.ndarray, what: str) -> np.ndarray:
        rows = unit_rows(matrix)
        if rows.shape[-1] != self.dim:
            raise EmbeddingMismatch(f"{what} has dimension {rows.shape[-1]}, expected {self.dim}")
        return rows

    async def upsert(self, table: str, rows: Sequence[VectorRow]) -> None:
        """Insert or replace ``rows`` by id (last duplicate wins); ids are per tenant."""
        self._check_table(table)
        # Sorted by id: concurrent upserts of overlapping ids (two replicas storing merged
        # records) take their row locks in one order, so they cannot deadlock.
        latest = {(row.user_id, row.item_id): row for row in rows}
        unique = [latest[key] for key in sorted(latest)]
        by_user: dict[str, list[tuple[object, ...]]] = {}
        for row in unique:
            vector = self._unit(row.vector, f"vector of {row.item_id!r}")[0]
            normalized = None
            if row.normalized_vector is not None and "normalized_vector" in _COLUMNS[table]:
                normalized = _literal(
                    self._unit(row.normalized_vector, f"normalized_vector of {row.item_id!r}")[0]
                )
            by_user.setdefault(row.user_id, []).append(
                (
                    table,
                    row.user_id,
                    row.item_id,
                    _literal(vector),
                    normalized,
                    row.memory_type,
                    row.level,
                    row.expired,
                )
            )
        for user_id, params in by_user.items():
            async with self._db.tenant(user_id) as conn, conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO vectors (kind, user_id, item_id, vector, normalized_vector,"
                    " memory_type, level, expired) VALUES (%s, %s, %s, %s::vector, %s::vector,"
                    " %s, %s, %s) ON CONFLICT (kind, user_id, item_id) DO UPDATE SET"
                    " vector = excluded.vector, normalized_vector = excluded.normalized_vector,"
                    " memory_type = excluded.memory_type, level = excluded.level,"
                    " expired = excluded.expired",
                    params,
                )

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
        """Per query row, the tenant's top ``k`` ``(id, cosine)``, best first.

        ``exact`` ranks every row of the tenant even where the HNSW index would serve.
        """
        self._check_table(table, column)
        matrix = self._unit(queries, "queries")
        if k <= 0 or len(matrix) == 0:
            return [[] for _ in range(len(matrix))]
        typed = f"{column}::vector({self.dim})"
        sql = (
            f"SELECT item_id, 1 - ({typed} <=> %s::vector({self.dim})) AS score FROM vectors"
            f" WHERE kind = %s AND user_id = %s AND {column} IS NOT NULL"
            f" AND vector_dims({column}) = {self.dim}"
            + ("" if include_expired or table not in _HAS_EXPIRED else " AND NOT expired")
            + f" ORDER BY {typed} <=> %s::vector({self.dim}) LIMIT %s"
        )
        results: list[list[tuple[str, float]]] = []
        tuning = {
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": str(min(max(self._ef_search, k), 1000)),
        }
        if exact or not await self._use_index(table, user_id):
            # plain index scans off: the HNSW index is never used; the tenant's rows come
            # from the (user_id, kind) btree through a bitmap scan and are ranked exactly
            tuning = {"enable_indexscan": "off"}
        async with self._db.tenant(user_id, **tuning) as conn:
            for query in matrix:
                text = _literal(query)
                cur = await conn.execute(sql, (text, table, user_id, text, k))
                hits = [(row["item_id"], float(row["score"])) for row in await cur.fetchall()]
                hits.sort(key=lambda hit: (-hit[1], hit[0]))
                results.append(hits)
        return results

    async def _use_index(self, table: str, user_id: str) -> bool:
        if self.strategy != "auto":
            return self.strategy == "ann"
        return await self.count(table, user_id) > self.exact_max_rows

    async def get_vectors(
        self, table: str, user_id: str, ids: Sequence[str], column: str = "vector"
    ) -> dict[str, np.ndarray]:
        """The tenant's stored vectors for ``ids``, expired included; missing ones omitted."""
        self._check_table(table, column)
        if not ids:
            return {}
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                f"SELECT item_id, {column}::text AS v FROM vectors WHERE kind = %s"
                f" AND user_id = %s AND item_id = ANY(%s) AND {column} IS NOT NULL",
                (table, user_id, list(ids)),
            )
            return {row["item_id"]: _parse(row["v"]) for row in await cur.fetchall()}

    async def set_expired(
        self, table: str, user_id: str, ids: Sequence[str], expired: bool = True
    ) -> None:
        """Flag the tenant's rows expired (hidden from default searches) or active again."""
        if table not in _HAS_EXPIRED:
            raise StorageError(f"vector table {table!r} has no expired column")
        if ids:
            async with self._db.tenant(user_id) as conn:
                await conn.execute(
                    "UPDATE vectors SET expired = %s WHERE kind = %s AND user_id = %s"
                    " AND item_id = ANY(%s)",
                    (expired, table, user_id, list(ids)),
                )

    async def delete(self, table: str, user_id: str, ids: Sequence[str]) -> None:
        """Delete the tenant's rows with these ids; other tenants' ids are untouched."""
        self._check_table(table)
        if ids:
            async with self._db.tenant(user_id) as conn:
                await conn.execute(
                    "DELETE FROM vectors WHERE kind = %s AND user_id = %s AND item_id = ANY(%s)",
                    (table, user_id, list(ids)),
                )

    async def delete_user(self, user_id: str) -> None:
        """Delete every vector of the tenant."""
        async with self._db.tenant(user_id) as conn:
            await conn.execute("DELETE FROM vectors WHERE user_id = %s", (user_id,))

    async def count(self, table: str, user_id: str) -> int:
        """Rows the tenant has in ``table``, expired ones included."""
        self._check_table(table)
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT COUNT(*) AS n FROM vectors WHERE kind = %s AND user_id = %s",
                (table, user_id),
            )
            row = await cur.fetchone()
            return int(row["n"]) if row else 0

    async def all_ids(self, table: str) -> list[tuple[str, str]]:
        """``(user_id, item_id)`` of every row of every tenant (storage reconciliation only)."""
        self._check_table(table)
        async with self._db.system() as conn:
            cur = await conn.execute(
                "SELECT user_id, item_id FROM vectors WHERE kind = %s", (table,)
            )
            return [(row["user_id"], row["item_id"]) for row in await cur.fetchall()]
