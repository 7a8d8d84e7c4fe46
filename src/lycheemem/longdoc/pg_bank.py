"""The chunk bank on PostgreSQL (``ChunkStore``): rows and pgvector vectors in one database.

Every unit of work is one ``PgDatabase.tenant`` transaction (row-level security names the
caller), except ``unfinished_documents``, which resumes every tenant's jobs at startup and
so reads in the ``system`` scope. Vectors travel as pgvector text, always bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg.types.json import Jsonb

from lycheemem.errors import StorageError
from lycheemem.longdoc.chunker import Chunk
from lycheemem.longdoc.models import BankChunk, DocumentInfo
from lycheemem.longdoc.ports import NewDocument, StoredChunk
from lycheemem.storage.postgres.database import PgDatabase

__all__ = ["PgChunkBank"]

_DOC_COLUMNS = (
    "doc_id, title, metadata, status, n_chars, n_tokens, n_chunks, chunks_done, chunk_tokens, "
    "ratio, note_tokens, backend, created_at, updated_at, error"
)


def _doc(row: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(**{name.strip(): row[name.strip()] for name in _DOC_COLUMNS.split(",")})


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(map(str, vector.tolist())) + "]"


def _parse(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


class PgChunkBank:
    """``ChunkStore`` on PostgreSQL: chunks, notes, term counts and vectors per document.

    Promises the same as the embedded bank; row-level security backs every tenant filter.
    """

    def __init__(self, db: PgDatabase, *, dim: int) -> None:
        self._db = db
        self._dim = int(dim)

    async def open(self) -> None:
        """Drop vectors of another dimension (derived data: rebuilt from the notes on use)."""
        async with self._db.system() as conn:
            await conn.execute(
                "DELETE FROM longdoc_chunk_vectors WHERE vector_dims(vector) <> %s", (self._dim,)
            )

    async def close(self) -> None:
        """Nothing to release: the pool belongs to ``PgDatabase``."""

    async def insert_document(
        self, doc: NewDocument, chunks: Sequence[Chunk], terms: Sequence[dict[str, int]]
    ) -> None:
        """Store a queued document and its chunks (notes still empty) in one transaction."""
        async with self._db.tenant(doc.user_id) as conn, conn.cursor() as cur:
            await cur.execute(
                "INSERT INTO longdoc_documents (user_id, doc_id, title, metadata, status, n_chars,"
                " n_tokens, n_chunks, chunk_tokens, ratio, backend, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    doc.user_id,
                    doc.doc_id,
                    doc.title,
                    Jsonb(doc.metadata),
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
            await cur.executemany(
                "INSERT INTO longdoc_chunks (user_id, doc_id, chunk_index, start_char, end_char,"
                " text, n_tokens, terms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (doc.user_id, doc.doc_id, c.index, c.start, c.end, c.text, c.n_tokens, Jsonb(t))
                    for c, t in zip(chunks, terms, strict=True)
                ],
            )

    async def get_document(self, user_id: str, doc_id: str) -> DocumentInfo | None:
        """The caller's document, or None."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM longdoc_documents WHERE user_id = %s AND doc_id = %s",
                (user_id, doc_id),
            )
            row = await cur.fetchone()
        return _doc(row) if row else None

    async def list_documents(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[DocumentInfo], int]:
        """A page of the caller's documents, newest first, and their total count."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT COUNT(*) AS n FROM longdoc_documents WHERE user_id = %s", (user_id,)
            )
            total = await cur.fetchone()
            cur = await conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM longdoc_documents WHERE user_id = %s"
                " ORDER BY created_at DESC, doc_id LIMIT %s OFFSET %s",
                (user_id, limit, offset),
            )
            rows = await cur.fetchall()
        return [_doc(row) for row in rows], int(total["n"] if total else 0)

    async def delete_document(self, user_id: str, doc_id: str) -> bool:
        """Delete the document, its chunks (cascade) and vectors; False if it was not there."""
        async with self._db.tenant(user_id) as conn:
            await conn.execute(
                "DELETE FROM longdoc_chunk_vectors WHERE user_id = %s AND doc_id = %s",
                (user_id, doc_id),
            )
            cur = await conn.execute(
                "DELETE FROM longdoc_documents WHERE user_id = %s AND doc_id = %s",
                (user_id, doc_id),
            )
            return cur.rowcount > 0

    async def set_status(
        self, user_id: str, doc_id: str, status: str, *, now: str, error: str | None = None
    ) -> None:
        """Move the document to ``status`` (with an error message for ``failed``)."""
        async with self._db.tenant(user_id) as conn:
            await conn.execute(
                "UPDATE longdoc_documents SET status = %s, error = %s, updated_at = %s"
                " WHERE user_id = %s AND doc_id = %s",
                (status, error, now, user_id, doc_id),
            )

    async def unfinished_documents(self) -> list[tuple[str, str]]:
        """``(user_id, doc_id)`` of every queued or compressing document (for resuming)."""
        async with self._db.system() as conn:
            cur = await conn.execute(
                "SELECT user_id, doc_id FROM longdoc_documents"
                " WHERE status IN ('queued', 'compressing') ORDER BY created_at, user_id, doc_id"
            )
            rows = await cur.fetchall()
        return [(row["user_id"], row["doc_id"]) for row in rows]

    async def uncompressed_chunks(self, user_id: str, doc_id: str) -> list[tuple[int, str, int]]:
        """``(chunk_index, text, n_tokens)`` of chunks that have no note yet, in order."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT chunk_index, text, n_tokens FROM longdoc_chunks"
                " WHERE user_id = %s AND doc_id = %s AND note IS NULL ORDER BY chunk_index",
                (user_id, doc_id),
            )
            rows = await cur.fetchall()
        return [(row["chunk_index"], row["text"], row["n_tokens"]) for row in rows]

    async def save_notes(
        self, user_id: str, doc_id: str, notes: Sequence[tuple[int, str, int]], *, now: str
    ) -> None:
        """Store ``(chunk_index, note, note_tokens)`` and refresh the document's progress."""
        async with self._db.tenant(user_id) as conn:
            async with conn.cursor() as cur:
                await cur.executemany(
                    "UPDATE longdoc_chunks SET note = %s, note_tokens = %s"
                    " WHERE user_id = %s AND doc_id = %s AND chunk_index = %s",
                    [(note, tokens, user_id, doc_id, index) for index, note, tokens in notes],
                )
            await conn.execute(
                "UPDATE longdoc_documents d SET chunks_done = p.done, note_tokens = p.total,"
                " updated_at = %s FROM (SELECT COUNT(*) AS done,"
                " COALESCE(SUM(note_tokens), 0) AS total FROM longdoc_chunks"
                " WHERE user_id = %s AND doc_id = %s AND note IS NOT NULL) p"
                " WHERE d.user_id = %s AND d.doc_id = %s",
                (now, user_id, doc_id, user_id, doc_id),
            )

    async def load_chunks(self, user_id: str, doc_id: str) -> list[BankChunk]:
        """Every chunk's note, sizes and term counts, in document order (no raw text)."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT chunk_index, n_tokens, COALESCE(note, '') AS note,"
                " COALESCE(note_tokens, 0) AS note_tokens, terms FROM longdoc_chunks"
                " WHERE user_id = %s AND doc_id = %s ORDER BY chunk_index",
                (user_id, doc_id),
            )
            rows = await cur.fetchall()
        return [
            BankChunk(r["chunk_index"], r["n_tokens"], r["note"], r["note_tokens"], r["terms"])
            for r in rows
        ]

    async def load_texts(self, user_id: str, doc_id: str) -> list[str]:
        """The raw text of every chunk in document order (joined, they are the document)."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT text FROM longdoc_chunks WHERE user_id = %s AND doc_id = %s"
                " ORDER BY chunk_index",
                (user_id, doc_id),
            )
            rows = await cur.fetchall()
        return [row["text"] for row in rows]

    async def stored_chunks(self, user_id: str, doc_id: str) -> list[StoredChunk]:
        """Every stored column of the document's chunks, in order."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT chunk_index, start_char, end_char, text, n_tokens, terms, note,"
                " note_tokens FROM longdoc_chunks WHERE user_id = %s AND doc_id = %s"
                " ORDER BY chunk_index",
                (user_id, doc_id),
            )
            rows = await cur.fetchall()
        return [
            StoredChunk(
                r["chunk_index"],
                r["start_char"],
                r["end_char"],
                r["text"],
                r["n_tokens"],
                dict(r["terms"]),
                r["note"],
                r["note_tokens"],
            )
            for r in rows
        ]

    async def copy_document(
        self, user_id: str, doc: DocumentInfo, chunks: Sequence[StoredChunk]
    ) -> bool:
        """Store a document as another bank held it; False when the id is taken."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "INSERT INTO longdoc_documents (user_id, doc_id, title, metadata, status, error,"
                " n_chars, n_tokens, n_chunks, chunks_done, chunk_tokens, ratio, note_tokens,"
                " backend, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    user_id,
                    doc.doc_id,
                    doc.title,
                    Jsonb(doc.metadata),
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
            )
            if not cur.rowcount:
                return False
            async with conn.cursor() as many:
                await many.executemany(
                    "INSERT INTO longdoc_chunks (user_id, doc_id, chunk_index, start_char,"
                    " end_char, text, n_tokens, terms, note, note_tokens)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            user_id,
                            doc.doc_id,
                            c.index,
                            c.start,
                            c.end,
                            c.text,
                            c.n_tokens,
                            Jsonb(c.terms),
                            c.note,
                            c.note_tokens,
                        )
                        for c in chunks
                    ],
                )
        return True

    async def put_vectors(self, user_id: str, doc_id: str, vectors: np.ndarray) -> None:
        """Replace the document's chunk vectors (row ``i`` belongs to chunk ``i``)."""
        matrix = np.asarray(vectors, dtype=np.float32)
        if len(matrix) and matrix.shape[-1] != self._dim:
            raise StorageError(f"chunk vectors have dimension {matrix.shape[-1]}, not {self._dim}")
        async with self._db.tenant(user_id) as conn:
            await conn.execute(
                "DELETE FROM longdoc_chunk_vectors WHERE user_id = %s AND doc_id = %s",
                (user_id, doc_id),
            )
            if len(matrix):
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO longdoc_chunk_vectors (user_id, doc_id, chunk_index, vector)"
                        " VALUES (%s, %s, %s, %s::vector)",
                        [(user_id, doc_id, n, _literal(row)) for n, row in enumerate(matrix)],
                    )

    async def get_vectors(self, user_id: str, doc_id: str, n_chunks: int) -> np.ndarray | None:
        """The ``(n_chunks, dim)`` vectors of a document, or None if any is missing."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT vector::text AS vector FROM longdoc_chunk_vectors"
                " WHERE user_id = %s AND doc_id = %s ORDER BY chunk_index",
                (user_id, doc_id),
            )
            rows = await cur.fetchall()
        if len(rows) != n_chunks:
            return None
        if not rows:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([_parse(row["vector"]) for row in rows])
