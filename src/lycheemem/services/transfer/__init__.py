"""JSONL export and import of one tenant's memory (API.md §8), behind the ``TransferStore`` port.

Export streams a header, then records, composites (ascending level), skills,
optionally sessions (each followed by its turns and summaries) and usage
logs, read page by page. Import validates each line on its own, recomputes
every record and composite id for the importing caller, remaps the references
between them, writes the rows first and then embeds the texts again with the
current embedder. No embeddings and no ``user_id`` travel. ``schema`` holds the
format, ``export`` and ``import_`` the two directions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from lycheemem.clock import Clock
from lycheemem.domain.ports import Embedder, SemanticStore, TransferStore, VectorIndex
from lycheemem.services.transfer.export import Exporter
from lycheemem.services.transfer.import_ import Importer
from lycheemem.services.transfer.schema import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    ImportReport,
    ParsedImport,
    merge_imported_record,
    parse_body,
)

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ImportReport",
    "MemoryTransfer",
    "ParsedImport",
    "merge_imported_record",
]


class MemoryTransfer:
    """Export and import of one tenant's memory through a ``TransferStore`` and the vectors."""

    def __init__(
        self,
        *,
        store: TransferStore,
        semantic: SemanticStore,
        vectors: VectorIndex,
        embedder: Embedder,
        clock: Clock,
        embed_batch: int = 256,
        page_size: int = 500,
    ) -> None:
        self.store = store
        self.semantic = semantic
        self.vectors = vectors
        self.embedder = embedder
        self.clock = clock
        self.embed_batch = embed_batch
        self.page_size = page_size
        self._exporter = Exporter(store, page_size=page_size)
        self._importer = Importer(
            store=store,
            semantic=semantic,
            vectors=vectors,
            embedder=embedder,
            embed_batch=embed_batch,
        )

    def export_lines(
        self, *, user_id: str, include_sessions: bool, include_usage_logs: bool
    ) -> AsyncIterator[str]:
        """Yield the JSONL export of the caller, one line (with newline) at a time.

        Queued fire-and-forget writes (usage logs, retrieval counters) land first, so the
        export holds everything a response has already reported.
        """
        return self._exporter.lines(
            user_id=user_id,
            include_sessions=include_sessions,
            include_usage_logs=include_usage_logs,
            now=self.clock.now_iso,
            embedding_model=self.embedder.model_name,
        )

    def parse(self, body: bytes) -> ParsedImport:
        """Split and decode the body; ``BadRequest`` when the header is missing or unknown."""
        return parse_body(body)

    async def import_lines(self, *, user_id: str, lines: ParsedImport) -> ImportReport:
        """Import parsed lines into ``user_id``'s namespace and index their vectors."""
        return await self._importer.import_lines(
            user_id=user_id, lines=lines, now=self.clock.now_iso()
        )
