"""The ``TransferStore`` port: the rows export and import of one tenant read and write.

Kept beside ``ports.py`` (which re-exports it) so that module stays small. Export reads the
caller's rows page by page behind opaque cursors: a backend pages by whatever stable order it
has (SQLite rowid, PostgreSQL serial ids) and the service only hands the cursor back. Import
writes are idempotent: importing the same file twice adds nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    Session,
    Skill,
    Summary,
    Turn,
    UsageLog,
)

__all__ = [
    "OwnedTable",
    "PageCursor",
    "SessionImport",
    "SessionImportResult",
    "TransferStore",
]

PageCursor = tuple[int | str, ...]
"""Where the previous page ended; ``None`` starts at the beginning. Opaque to the caller."""

OwnedTable = Literal["skills", "usage_logs"]
"""Tables whose ids an import keeps when they are free (``TransferStore.id_owners``)."""


@dataclass(slots=True)
class SessionImport:
    """A session line of an import: created when missing, its topic filled when empty."""

    session_id: str
    topic: str | None
    tags: list[str]
    created_at: str
    updated_at: str
    consolidated_until: int


@dataclass(slots=True)
class SessionImportResult:
    """What ``import_sessions`` did.

    ``turns_inserted`` / ``turns_skipped``: turns stored, and turns whose index was taken.
    ``clamped``: per session of the call (same order), the session's turn count when its
    consolidation watermark lay past its turns and was lowered to it, else None.
    """

    turns_inserted: int = 0
    turns_skipped: int = 0
    clamped: list[int | None] = field(default_factory=list)


class TransferStore(Protocol):
    """Paged reads and idempotent writes of one tenant's rows for ``/memory/export|import``.

    Every method is scoped to ``user_id`` (or to the rows' own ``user_id``) except
    ``id_owners``, which says only whether an id is taken and by whom.
    """

    async def drain(self) -> None:
        """Let queued fire-and-forget writes land, so an export sees what was reported."""
        ...

    async def export_counts(self, user_id: str) -> dict[str, int]:
        """Rows per exported kind: records, composites, skills, sessions, turns, summaries,
        usage_logs."""
        ...

    async def record_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[MemoryRecord], PageCursor | None]:
        """Up to ``limit`` records after ``after`` in insertion order, and the next cursor."""
        ...

    async def composite_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[CompositeRecord], PageCursor | None]:
        """Up to ``limit`` composites after ``after``: ascending level, then insertion order
        (an importer then meets every child before its parents)."""
        ...

    async def skill_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Skill], PageCursor | None]:
        """Up to ``limit`` skills after ``after`` in insertion order."""
        ...

    async def session_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Session], PageCursor | None]:
        """Up to ``limit`` sessions after ``after`` in insertion order."""
        ...

    async def session_history(
        self, user_id: str, session_id: str
    ) -> tuple[list[Turn], list[Summary]]:
        """Every turn (index order, compressed ones too) and summary (oldest first)."""
        ...

    async def usage_log_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[UsageLog], PageCursor | None]:
        """Up to ``limit`` usage logs after ``after`` in insertion order."""
        ...

    async def id_owners(self, table: OwnedTable, ids: Sequence[str]) -> dict[str, str]:
        """For those ``ids`` already stored in ``table`` by anyone, the owning ``user_id``.

        Only used to decide whether an imported id must be regenerated; nothing else of
        another tenant's row is returned.
        """
        ...

    async def upsert_imported_records(
        self,
        records: Sequence[MemoryRecord],
        merge: Callable[[MemoryRecord, MemoryRecord], MemoryRecord],
    ) -> list[MemoryRecord]:
        """Save records (unindexed); one already stored is saved as ``merge(stored, new)``.

        Returns the records as written.
        """
        ...

    async def import_composites(
        self, composites: Sequence[tuple[CompositeRecord, Sequence[str]]]
    ) -> None:
        """Insert or replace composites (unindexed) with their direct member record ids."""
        ...

    async def import_skills(self, skills: Sequence[Skill]) -> None:
        """Insert or replace skills (unindexed until their vectors are written)."""
        ...

    async def import_sessions(
        self,
        user_id: str,
        sessions: Sequence[SessionImport],
        turns: Sequence[Turn],
        *,
        now: str,
    ) -> SessionImportResult:
        """In one transaction: create missing sessions (fill an empty topic of existing ones),
        insert each turn at its own index unless taken (its session created at ``now`` when
        missing, the turn count grown to cover it), then lower watermarks past the turns."""
        ...

    async def import_summaries(
        self, user_id: str, summaries: Sequence[Summary], *, now: str
    ) -> int:
        """Insert summaries unless an identical one (index and content) exists; sessions
        are created at ``now`` when missing. Returns how many were inserted."""
        ...

    async def import_usage_logs(self, logs: Sequence[UsageLog]) -> None:
        """Insert complete usage logs (feedback fields included); their ids must be free."""
        ...
