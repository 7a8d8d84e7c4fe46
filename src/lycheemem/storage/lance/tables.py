"""LanceDB table I/O of the vector index: schemas, SQL filters, Arrow conversions, searches.

Blocking functions over an open LanceDB table handle; ``LanceVectorIndex`` calls them
from its single LanceDB thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from lycheemem.errors import StorageError

__all__ = [
    "FILTER_BATCH",
    "TABLES",
    "VECTOR_COLUMNS",
    "WRITE_BATCH",
    "chunks",
    "column_matrix",
    "ensure_ann_index",
    "has_expired",
    "in_list",
    "lance_search",
    "sql_literal",
    "table_schema",
    "tenant_filter",
    "vector_array",
]

T = TypeVar("T")

# table name -> (id column, extra scalar columns)
TABLES: dict[str, tuple[str, tuple[tuple[str, pa.DataType], ...]]] = {
    "memory_records": ("record_id", (("memory_type", pa.string()), ("expired", pa.bool_()))),
    "composite_records": (
        "composite_id",
        (("memory_type", pa.string()), ("level", pa.int32()), ("expired", pa.bool_())),
    ),
    "skills": ("skill_id", ()),
}
VECTOR_COLUMNS = {
    "memory_records": ("vector", "normalized_vector"),
    "composite_records": ("vector", "normalized_vector"),
    "skills": ("vector",),
}
# Ids per merge_insert / delete / update statement: keeps SQL filters and Arrow batches small.
WRITE_BATCH = 1000
FILTER_BATCH = 500


def table_schema(table: str, dim: int) -> pa.Schema:
    """The explicit Arrow schema of one vector table."""
    id_column, extras = TABLES[table]
    fields = [
        pa.field(id_column, pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
    ]
    fields += [pa.field(name, dtype) for name, dtype in extras]
    fields += [pa.field(column, pa.list_(pa.float32(), dim)) for column in VECTOR_COLUMNS[table]]
    return pa.schema(fields)


def sql_literal(value: str) -> str:
    """``value`` as a quoted SQL string literal for a LanceDB filter (quotes doubled)."""
    if "\x00" in value:
        raise StorageError(f"refusing a NUL character in a filter value: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def has_expired(table: str) -> bool:
    """Whether ``table`` has an ``expired`` column."""
    return any(name == "expired" for name, _ in TABLES[table][1])


def tenant_filter(table: str, user_id: str, column: str, include_expired: bool) -> str:
    """The SQL filter of one tenant's rows with a non-null ``column`` (active ones unless
    ``include_expired``)."""
    clauses = [f"user_id = {sql_literal(user_id)}", f"{column} IS NOT NULL"]
    if has_expired(table) and not include_expired:
        clauses.append("expired = false")
    return " AND ".join(clauses)


def in_list(column: str, values: Sequence[str]) -> str:
    """A SQL ``column IN (...)`` clause over quoted ``values``."""
    return f"{column} IN ({', '.join(sql_literal(value) for value in values)})"


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def vector_array(vectors: Sequence[np.ndarray | None], dim: int) -> pa.FixedSizeListArray:
    """A fixed-size-list Arrow column of ``vectors``; None becomes a null entry."""
    matrix = np.zeros((len(vectors), dim), dtype=np.float32)
    missing = np.zeros(len(vectors), dtype=bool)
    for row, vector in enumerate(vectors):
        if vector is None:
            missing[row] = True
        else:
            matrix[row] = vector
    mask = pa.array(missing) if missing.any() else None
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dim, mask=mask)


def column_matrix(column: pa.ChunkedArray, dim: int) -> np.ndarray:
    """A (n, dim) float32 matrix from a non-null fixed-size-list column."""
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


def lance_search(
    handle: Any,
    id_column: str,
    queries: np.ndarray,
    *,
    column: str,
    k: int,
    where: str,
) -> list[list[tuple[str, float]]]:
    """Per query row, LanceDB's top ``k`` (id, cosine) among rows matching ``where``
    (a prefilter), best first, cosine clipped to [-1, 1]."""
    results = []
    for query in queries:
        found = (
            handle.search(query, vector_column_name=column)
            .distance_type("cosine")
            .where(where, prefilter=True)
            .select([id_column, "_distance"])
            .limit(k)
            .to_arrow()
        )
        ids = found.column(id_column).to_pylist()
        distances = found.column("_distance").to_pylist()
        pairs = zip(ids, distances, strict=True)
        results.append([(item_id, min(1.0, max(-1.0, 1.0 - d))) for item_id, d in pairs])
    return results


def ensure_ann_index(handle: Any, column: str, min_rows: int) -> bool:
    """Build (or rebuild) an ``IVF_HNSW_SQ`` cosine index on ``column`` when it is due.

    Due means the table has at least ``min_rows`` rows and either no index on the
    column or more than 10 % of rows unindexed. Returns whether it built one.
    """
    rows = handle.count_rows()
    if rows < min_rows:
        return False
    current = [index for index in handle.list_indices() if list(index.columns) == [column]]
    if current:
        unindexed = getattr(current[0], "num_unindexed_rows", None) or 0
        if unindexed <= rows // 10:
            return False
    handle.create_index(
        metric="cosine",
        vector_column_name=column,
        index_type="IVF_HNSW_SQ",
        replace=True,
        name=f"{column}_ann",
    )
    return True
