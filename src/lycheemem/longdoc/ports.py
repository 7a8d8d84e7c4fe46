"""The long-document slice's storage port: what the service needs of a chunk bank.

Two implementations: ``bank.SqliteChunkBank`` (SQLite rows, LanceDB vectors) and
``pg_bank.PgChunkBank`` (PostgreSQL rows, pgvector vectors); ``bank_factory.build_bank``
picks one for the database it is given. The service is typed by this protocol only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lycheemem.longdoc.chunker import Chunk
from lycheemem.longdoc.models import BankChunk, DocumentInfo

__all__ = ["ChunkStore", "NewDocument", "StoredChunk"]


@dataclass(frozen=True, slots=True)
class NewDocument:
    """What ``insert_document`` stores for a freshly chunked document."""

    user_id: str
    doc_id: str
    title: str
    metadata: dict[str, Any]
    n_chars: int
    n_tokens: int
    chunk_tokens: int
    ratio: int
    backend: str
    now: str


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """Everything stored of one chunk (what moving a bank to another backend copies)."""

    index: int
    start: int
    end: int
    text: str
    n_tokens: int
    terms: dict[str, int]
    note: str | None
    note_tokens: int | None


class ChunkStore(Protocol):
    """Per-user, per-document storage of chunks, notes, term counts and vectors.

    Promises: nothing ever returns a row of another ``user_id``; deleting a document removes
    its chunks and vectors; a document's vectors are replaced, never duplicated.
    """

    async def open(self) -> None:
        """Prepare the vector storage (a table of another dimension is rebuilt)."""
        ...

    async def close(self) -> None:
        """Release what ``open`` took; safe to call twice."""
        ...

    async def insert_document(
        self, doc: NewDocument, chunks: Sequence[Chunk], terms: Sequence[dict[str, int]]
    ) -> None:
        """Store a queued document and its chunks (notes still empty) in one transaction."""
        ...

    async def get_document(self, user_id: str, doc_id: str) -> DocumentInfo | None:
        """The caller's document, or None."""
        ...

    async def list_documents(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[DocumentInfo], int]:
        """A page of the caller's documents, newest first, and their total count."""
        ...

    async def delete_document(self, user_id: str, doc_id: str) -> bool:
        """Delete the document, its chunks and vectors; False if it was not there."""
        ...

    async def set_status(
        self, user_id: str, doc_id: str, status: str, *, now: str, error: str | None = None
    ) -> None:
        """Move the document to ``status`` (with an error message for ``failed``)."""
        ...

    async def unfinished_documents(self) -> list[tuple[str, str]]:
        """``(user_id, doc_id)`` of every queued or compressing document of every tenant,
        oldest first (for resuming after a restart)."""
        ...

    async def uncompressed_chunks(self, user_id: str, doc_id: str) -> list[tuple[int, str, int]]:
        """``(chunk_index, text, n_tokens)`` of chunks that have no note yet, in order."""
        ...

    async def save_notes(
        self, user_id: str, doc_id: str, notes: Sequence[tuple[int, str, int]], *, now: str
    ) -> None:
        """Store ``(chunk_index, note, note_tokens)`` and refresh the document's progress."""
        ...

    async def load_chunks(self, user_id: str, doc_id: str) -> list[BankChunk]:
        """Every chunk's note, sizes and term counts, in document order (no raw text)."""
        ...

    async def load_texts(self, user_id: str, doc_id: str) -> list[str]:
        """The raw text of every chunk in document order (joined, they are the document)."""
        ...

    async def put_vectors(self, user_id: str, doc_id: str, vectors: np.ndarray) -> None:
        """Replace the document's chunk vectors (row ``i`` belongs to chunk ``i``)."""
        ...

    async def get_vectors(self, user_id: str, doc_id: str, n_chunks: int) -> np.ndarray | None:
        """The ``(n_chunks, dim)`` vectors of a document, or None if any is missing."""
        ...

    async def stored_chunks(self, user_id: str, doc_id: str) -> list[StoredChunk]:
        """Every stored column of the document's chunks, in order (for ``lycheemem migrate``)."""
        ...

    async def copy_document(
        self, user_id: str, doc: DocumentInfo, chunks: Sequence[StoredChunk]
    ) -> bool:
        """Store a document exactly as another bank held it (status, progress, notes); False,
        changing nothing, when the caller already has a document with this id."""
        ...
