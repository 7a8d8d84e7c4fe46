"""LanceDB vector tables (explicit schemas) with the embedding-model guard.

LanceDB calls are blocking; every public coroutine runs them on a dedicated
thread so the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from lycheemem.errors import EmbeddingMismatch, StorageError

__all__ = ["TABLES", "LanceVectorIndex", "table_schema"]

log = logging.getLogger(__name__)
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
_VECTOR_COLUMNS = {
    "memory_records": ("vector", "normalized_vector"),
    "composite_records": ("vector", "normalized_vector"),
    "skills": ("vector",),
}


def table_schema(table: str, dim: int) -> pa.Schema:
    """The explicit Arrow schema of one vector table."""
    id_column, extras = TABLES[table]
    fields = [
        pa.field(id_column, pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
    ]
    fields += [pa.field(name, dtype) for name, dtype in extras]
    fields += [pa.field(column, pa.list_(pa.float32(), dim)) for column in _VECTOR_COLUMNS[table]]
    return pa.schema(fields)


class LanceVectorIndex:
    """The LanceDB directory holding record, composite and skill vectors.

    Promises: tables exist with the configured dimension after ``open()``;
    ``open()`` raises ``EmbeddingMismatch`` if existing tables were built
    with another dimension.
    """

    def __init__(self, path: Path, *, dim: int) -> None:
        self.path = Path(path)
        self.dim = dim
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._executor: ThreadPoolExecutor | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise StorageError("vector index is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        """Connect, create missing tables, and check existing tables' dimension."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="lancedb")
        await self._run(self._open_sync)

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

    async def close(self) -> None:
        """Release the thread; safe to call twice."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._tables.clear()
        self._db = None
