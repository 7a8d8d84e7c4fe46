"""The embedded chunk bank (``ChunkStore``): documents and chunks in SQLite, vectors in LanceDB.

SQL runs in small sync functions handed to ``Database``; LanceDB runs on one
dedicated thread. Every query filters on ``user_id``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lycheemem.errors import StorageError
from lycheemem.longdoc.chunker import Chunk
from lycheemem.longdoc.models import BankChunk, DocumentInfo
from lycheemem.longdoc.ports import NewDocument, StoredChunk
from lycheemem.storage.sqlite.database import Database

__all__ = ["SqliteChunkBank", "vector_schema"]

_TABLE = "longdoc_chunk_vectors"
_DOC_COLUMNS = (
    "doc_id, title, metadata, status, n_chars, n_tokens, n_chunks, chunks_done, chunk_tokens, "
    "ratio, note_tokens, backend, created_at, updated_at, error"
)


def vector_schema(dim: int) -> pa.Schema:
    """Explicit Arrow schema of the chunk-vector table."""
    return pa.schema(
        [
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("chunk_index", pa.int32(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def _doc_from_row(row: sqlite3.Row) -> DocumentInfo:
    return DocumentInfo(
        doc_id=row["doc_id"],
        title=row["title"],
        metadata=json.loads(row["metadata"]),
        status=row["status"],
        n_chars=row["n_chars"],
        n_tokens=row["n_tokens"],
        n_chunks=row["n_chunks"],
        chunks_done=row["chunks_done"],
        chunk_tokens=row["chunk_tokens"],
        ratio=row["ratio"],
        note_tokens=row["note_tokens"],
        backend=row["backend"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        error=row["error"],
    )


def _lance_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class SqliteChunkBank:
    """``ChunkStore`` on SQLite and LanceDB: chunks, notes, term counts and vectors per document.

    Promises: nothing here ever returns a row of another ``user_id``; deleting a
    document removes its chunks and vectors; vectors are replaced, never duplicated.
    """

    def __init__(self, db: Database, lance_dir: Path, *, dim: int) -> None:
        self._db = db
        self._lance_dir = Path(lance_dir)
        self._dim = dim
        self._executor: ThreadPoolExecutor | None = None
        self._table: Any = None

    # -- lifecycle -------------------------------------------------------------
    async def open(self) -> None:
        """Open (or create) the vector table; a table of another dimension is rebuilt."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="longdoc-lance")
        await self._lance(self._open_sync)

    def _open_sync(self) -> None:
        import lancedb

        self._lance_dir.mkdir(parents=True, exist_ok=True)
        connection = lancedb.connect(str(self._lance_dir))
        listed = connection.list_tables()
        names = set(getattr(listed, "tables", listed))
        if _TABLE in names:
            table = connection.open_table(_TABLE)
            if table.schema.field("vector").type.list_size == self._dim:
                self._table = table
                return
            # vectors are derived data: rebuilt from the notes when a document is next used
            connection.drop_table(_TABLE)
        self._table = connection.create_table(_TABLE, schema=vector_schema(self._dim))

    async def close(self) -> None:
        """Stop the LanceDB thread; safe to call twice."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._table = None

    async def _lance(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise StorageError("long-document bank is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- documents -------------------------------------------------------------
    async def insert_document(
        self, doc: NewDocument, chunks: Sequence[Chunk], terms: Sequence[dict[str, int]]
    ) -> None:
        """Store a queued document and its chunks (notes still empty) in one transaction."""

        def _insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO longdoc_documents (user_id, doc_id, title, metadata, status, n_chars,"
                " n_tokens, n_chunks, chunk_tokens, ratio, backend, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.user_id,
                    doc.doc_id,
                    doc.title,
                    json.dumps(doc.metadata),
                    doc.n_chars,
                    doc.n_tokens,
                    len(chunks),
                    doc.chunk_tokens,
                    doc.ratio,
                    doc.backend,
                    doc.now,
                    doc.now,
                ),
            )
            conn.executemany(
                "INSERT INTO longdoc_chunks (user_id, doc_id, chunk_index, start_char, end_char,"
                " text, n_tokens, terms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        doc.user_id,
                        doc.doc_id,
                        c.index,
                        c.start,
                        c.end,
                        c.text,
                        c.n_tokens,
                        json.dumps(t, separators=(",", ":")),
                    )
                    for c, t in zip(chunks, terms, strict=True)
                ],
            )

        await self._db.write(_insert)

    async def get_document(self, user_id: str, doc_id: str) -> DocumentInfo | None:
        """The caller's document, or None."""

        def _get(conn: sqlite3.Connection) -> DocumentInfo | None:
            row = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM longdoc_documents WHERE user_id = ? AND doc_id = ?",
                (user_id, doc_id),
            ).fetchone()
            return _doc_from_row(row) if row else None

        return await self._db.read(_get)

    async def list_documents(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[DocumentInfo], int]:
        """A page of the caller's documents, newest first, and their total count."""

        def _list(conn: sqlite3.Connection) -> tuple[list[DocumentInfo], int]:
            total = conn.execute(
                "SELECT COUNT(*) FROM longdoc_documents WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            rows = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM longdoc_documents WHERE user_id = ?"
                " ORDER BY created_at DESC, doc_id LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            ).fetchall()
            return [_doc_from_row(row) for row in rows], int(total)

        return await self._db.read(_list)

    async def delete_document(self, user_id: str, doc_id: str) -> bool:
        """Delete the document, its chunks and vectors; False if it was not there."""

        def _delete(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "DELETE FROM longdoc_chunks WHERE user_id = ? AND doc_id = ?", (user_id, doc_id)
            )
            cursor = conn.execute(
                "DELETE FROM longdoc_documents WHERE user_id = ? AND doc_id = ?", (user_id, doc_id)
            )
            return cursor.rowcount > 0

        deleted = await self._db.write(_delete)
        await self._lance(self._delete_vectors_sync, user_id, doc_id)
        return bool(deleted)

    async def set_status(
        self, user_id: str, doc_id: str, status: str, *, now: str, error: str | None = None
    ) -> None:
        """Move the document to ``status`` (with an error message for ``failed``)."""

        def _set(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE longdoc_documents SET status = ?, error = ?, updated_at = ?"
                " WHERE user_id = ? AND doc_id = ?",
                (status, error, now, user_id, doc_id),
            )

        await self._db.write(_set)

    async def unfinished_documents(self) -> list[tuple[str, str]]:
        """``(user_id, doc_id)`` of every queued or compressing document (for resuming)."""

        def _pending(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT user_id, doc_id FROM longdoc_documents"
                " WHERE status IN ('queued', 'compressing') ORDER BY created_at"
            ).fetchall()
            return [(row[0], row[1]) for row in rows]

        return await self._db.read(_pending)

    # -- chunks ----------------------------------------------------------------
    async def uncompressed_chunks(self, user_id: str, doc_id: str) -> list[tuple[int, str, int]]:
        """``(chunk_index, text, n_tokens)`` of chunks that have no note yet, in order."""

        def _pending(conn: sqlite3.Connection) -> list[tuple[int, str, int]]:
            rows = conn.execute(
                "SELECT chunk_index, text, n_tokens FROM longdoc_chunks"
                " WHERE user_id = ? AND doc_id = ? AND note IS NULL ORDER BY chunk_index",
                (user_id, doc_id),
            ).fetchall()
            return [(row[0], row[1], row[2]) for row in rows]

        return await self._db.read(_pending)

    async def save_notes(
        self, user_id: str, doc_id: str, notes: Sequence[tuple[int, str, int]], *, now: str
    ) -> None:
        """Store ``(chunk_index, note, note_tokens)`` and refresh the document's progress."""

        def _save(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE longdoc_chunks SET note = ?, note_tokens = ?"
                " WHERE user_id = ? AND doc_id = ? AND chunk_index = ?",
                [(note, tokens, user_id, doc_id, index) for index, note, tokens in notes],
            )
            done, note_total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(note_tokens), 0) FROM longdoc_chunks"
                " WHERE user_id = ? AND doc_id = ? AND note IS NOT NULL",
                (user_id, doc_id),
            ).fetchone()
            conn.execute(
                "UPDATE longdoc_documents SET chunks_done = ?, note_tokens = ?, updated_at = ?"
                " WHERE user_id = ? AND doc_id = ?",
                (done, note_total, now, user_id, doc_id),
            )

        await self._db.write(_save)

    async def load_chunks(self, user_id: str, doc_id: str) -> list[BankChunk]:
        """Every chunk's note, sizes and term counts, in document order (no raw text)."""

        def _load(conn: sqlite3.Connection) -> list[BankChunk]:
            rows = conn.execute(
                "SELECT chunk_index, n_tokens, COALESCE(note, ''), COALESCE(note_tokens, 0), terms"
                " FROM longdoc_chunks WHERE user_id = ? AND doc_id = ? ORDER BY chunk_index",
                (user_id, doc_id),
            ).fetchall()
            return [BankChunk(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

        return await self._db.read(_load)

    async def load_texts(self, user_id: str, doc_id: str) -> list[str]:
        """The raw text of every chunk in document order (joined, they are the document)."""

        def _texts(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT text FROM longdoc_chunks WHERE user_id = ? AND doc_id = ?"
                " ORDER BY chunk_index",
                (user_id, doc_id),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._db.read(_texts)

    async def stored_chunks(self, user_id: str, doc_id: str) -> list[StoredChunk]:
        """Every stored column of the document's chunks, in order."""

        def _rows(conn: sqlite3.Connection) -> list[StoredChunk]:
            rows = conn.execute(
                "SELECT chunk_index, start_char, end_char, text, n_tokens, terms, note,"
                " note_tokens FROM longdoc_chunks WHERE user_id = ? AND doc_id = ?"
                " ORDER BY chunk_index",
                (user_id, doc_id),
            ).fetchall()
            return [
                StoredChunk(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
                for r in rows
            ]

        return await self._db.read(_rows)

    async def copy_document(
        self, user_id: str, doc: DocumentInfo, chunks: Sequence[StoredChunk]
    ) -> bool:
        """Store a document as another bank held it; False when the id is taken."""

        def _copy(conn: sqlite3.Connection) -> bool:
            created = conn.execute(
                "INSERT INTO longdoc_documents (user_id, doc_id, title, metadata, status, error,"
                " n_chars, n_tokens, n_chunks, chunks_done, chunk_tokens, ratio, note_tokens,"
                " backend, created_at, updated_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    user_id,
                    doc.doc_id,
                    doc.title,
                    json.dumps(doc.metadata),
                    doc.status,
                    doc.error,
                    doc.n_chars,
                    doc.n_tokens,
                    doc.n_chunks,
                    doc.chunks_done,
                    doc.chunk_tokens,
                    doc.ratio,
                    doc.note_tokens,
                    doc.backend,
                    doc.created_at,
                    doc.updated_at,
                ),
            ).rowcount
            if not created:
                return False
            conn.executemany(
                "INSERT INTO longdoc_chunks (user_id, doc_id, chunk_index, start_char, end_char,"
                " text, n_tokens, terms, note, note_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        user_id,
                        doc.doc_id,
                        c.index,
                        c.start,
                        c.end,
                        c.text,
                        c.n_tokens,
                        json.dumps(c.terms, separators=(",", ":")),
                        c.note,
                        c.note_tokens,
                    )
                    for c in chunks
                ],
            )
            return True

        return bool(await self._db.write(_copy))

    # -- vectors ---------------------------------------------------------------
    async def put_vectors(self, user_id: str, doc_id: str, vectors: np.ndarray) -> None:
        """Replace the document's chunk vectors (row ``i`` belongs to chunk ``i``)."""
        await self._lance(self._put_sync, user_id, doc_id, np.asarray(vectors, dtype=np.float32))

    def _put_sync(self, user_id: str, doc_id: str, vectors: np.ndarray) -> None:
        self._delete_vectors_sync(user_id, doc_id)
        if len(vectors) == 0:
            return
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        batch = pa.table(
            {
                "user_id": pa.array([user_id] * len(vectors), pa.string()),
                "doc_id": pa.array([doc_id] * len(vectors), pa.string()),
                "chunk_index": pa.array(np.arange(len(vectors), dtype=np.int32)),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self._dim),
            },
            schema=vector_schema(self._dim),
        )
        self._table.add(batch)

    def _delete_vectors_sync(self, user_id: str, doc_id: str) -> None:
        self._table.delete(
            f"user_id = {_lance_literal(user_id)} AND doc_id = {_lance_literal(doc_id)}"
        )

    async def get_vectors(self, user_id: str, doc_id: str, n_chunks: int) -> np.ndarray | None:
        """The ``(n_chunks, dim)`` vectors of a document, or None if any is missing."""
        return await self._lance(self._get_sync, user_id, doc_id, n_chunks)

    def _get_sync(self, user_id: str, doc_id: str, n_chunks: int) -> np.ndarray | None:
        where = f"user_id = {_lance_literal(user_id)} AND doc_id = {_lance_literal(doc_id)}"
        table = (
            self._table.search()
            .where(where)
            .select(["chunk_index", "vector"])
            .limit(None)
            .to_arrow()
        )
        if table.num_rows != n_chunks:
            return None
        order = np.argsort(table.column("chunk_index").to_numpy())
        flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float32).reshape(-1, self._dim)[order]
