"""``TransferStore`` on SQLite: the pages an export reads and the rows an import writes.

The SQL lives in plain sync functions of a ``sqlite3.Connection`` (moved here from
the former ``admin.py``); ``SqliteTransferStore`` runs them through ``Database.read`` / ``write``.
Pages follow rowid order, so the cursors are rowids (composites: ``(level, rowid)``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import partial

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    Session,
    Skill,
    Summary,
    Turn,
    UsageLog,
    User,
)
from lycheemem.domain.transfer_store import (
    OwnedTable,
    PageCursor,
    SessionImport,
    SessionImportResult,
)
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.records import (
    chunks,
    composite_from_row,
    fetch_records,
    insert_composite,
    placeholders,
    record_from_row,
    save_record,
)
from lycheemem.storage.sqlite.rows import dump_json
from lycheemem.storage.sqlite.sessions import (
    ensure_session,
    fetch_summaries,
    fetch_turns,
    session_from_row,
)
from lycheemem.storage.sqlite.skills import save_skill, skill_from_row
from lycheemem.storage.sqlite.usage import usage_log_from_row

__all__ = [
    "SqliteTransferStore",
    "all_users",
    "embedding_meta",
    "tenant_ids",
    "clamp_watermark",
    "composite_page",
    "export_counts",
    "id_owners",
    "import_composites",
    "import_session_row",
    "import_skills",
    "import_summary_row",
    "import_turn_row",
    "import_usage_log_row",
    "import_usage_log_rows",
    "record_page",
    "rows_after",
    "upsert_imported_records",
]

_EXPORTED_TABLES = {
    "records": "memory_records",
    "composites": "composite_records",
    "skills": "skills",
    "sessions": "sessions",
    "turns": "turns",
    "summaries": "summaries",
    "usage_logs": "usage_logs",
}
_OWNED_IDS = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
    "usage_logs": "log_id",
}


# -- export pages --------------------------------------------------------------


def record_page(
    conn: sqlite3.Connection, user_id: str, after: int, limit: int
) -> tuple[list[MemoryRecord], int]:
    """The caller's records with rowid > ``after`` in rowid order, and the last rowid seen."""
    rows = conn.execute(
        "SELECT * FROM memory_records WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
        (user_id, after, limit),
    ).fetchall()
    return [record_from_row(row) for row in rows], (rows[-1]["id"] if rows else after)


def composite_page(
    conn: sqlite3.Connection, user_id: str, after: tuple[int, int], limit: int
) -> tuple[list[CompositeRecord], tuple[int, int]]:
    """The caller's composites after ``(level, rowid)`` in ascending level, then rowid."""
    level, rowid = after
    rows = conn.execute(
        "SELECT * FROM composite_records WHERE user_id = ?"
        " AND (level > ? OR (level = ? AND id > ?)) ORDER BY level, id LIMIT ?",
        (user_id, level, level, rowid, limit),
    ).fetchall()
    last = (rows[-1]["level"], rows[-1]["id"]) if rows else after
    return [composite_from_row(row) for row in rows], last


def rows_after(
    conn: sqlite3.Connection, table: str, user_id: str, after: int, limit: int
) -> list[sqlite3.Row]:
    """Rows of ``skills``, ``sessions`` or ``usage_logs`` with rowid > ``after``, in rowid order.

    Each row carries its rowid as ``_rowid`` for the next page.
    """
    if table not in ("skills", "sessions", "usage_logs"):
        raise ValueError(f"not a pageable table: {table!r}")
    return conn.execute(
        f"SELECT rowid AS _rowid, * FROM {table} WHERE user_id = ? AND rowid > ?"
        " ORDER BY rowid LIMIT ?",
        (user_id, after, limit),
    ).fetchall()


def export_counts(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """How many rows of each exported kind the caller has."""
    return {
        name: int(
            conn.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (user_id,)).fetchone()[
                0
            ]
        )
        for name, table in _EXPORTED_TABLES.items()
    }


# -- import writes -------------------------------------------------------------


def id_owners(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> dict[str, str]:
    """For ids already stored in ``table`` (by anyone), the owning ``user_id``.

    Used only to decide whether an imported id must be regenerated; nothing of
    another tenant's row is returned besides the fact that the id is taken.
    """
    column = _OWNED_IDS[table]
    owners: dict[str, str] = {}
    for part in chunks(list(ids)):
        rows = conn.execute(
            f"SELECT {column}, user_id FROM {table} WHERE {column} IN ({placeholders(len(part))})",
            tuple(part),
        )
        owners.update((row[0], row[1]) for row in rows)
    return owners


def import_session_row(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    session_id: str,
    topic: str | None,
    tags: Sequence[str],
    created_at: str,
    updated_at: str,
    consolidated_until: int,
) -> bool:
    """Create the caller's session, or fill a missing topic of an existing one.

    Returns True when the session was created.
    """
    values = (user_id, session_id, topic, dump_json(list(tags)), created_at, updated_at)
    created = conn.execute(
        "INSERT INTO sessions (user_id, session_id, topic, tags, created_at, updated_at,"
        " last_consolidated_turn_index) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (user_id, session_id) DO NOTHING",
        (*values, consolidated_until),
    ).rowcount
    if not created and topic:
        conn.execute(
            "UPDATE sessions SET topic = ? WHERE user_id = ? AND session_id = ? AND topic IS NULL",
            (topic, user_id, session_id),
        )
    return bool(created)


def clamp_watermark(conn: sqlite3.Connection, user_id: str, session_id: str) -> int | None:
    """Lower a consolidation watermark that lies past the session's turns to its turn count.

    Returns the turn count when the watermark was lowered, else None.
    """
    changed = conn.execute(
        "UPDATE sessions SET last_consolidated_turn_index = turn_count"
        " WHERE user_id = ? AND session_id = ? AND last_consolidated_turn_index > turn_count",
        (user_id, session_id),
    ).rowcount
    if not changed:
        return None
    row = conn.execute(
        "SELECT turn_count FROM sessions WHERE user_id = ? AND session_id = ?",
        (user_id, session_id),
    ).fetchone()
    return int(row[0])


def import_turn_row(conn: sqlite3.Connection, turn: Turn) -> bool:
    """Insert ``turn`` at its own ``turn_index``; False when the index is taken.

    The session must exist. Its ``turn_count`` grows to cover the new index so
    later appends continue after it.
    """
    inserted = conn.execute(
        "INSERT OR IGNORE INTO turns (user_id, session_id, turn_index, role, content, speaker,"
        " turn_id, metadata, token_count, created_at, compressed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            turn.user_id,
            turn.session_id,
            turn.turn_index,
            turn.role,
            turn.content,
            turn.speaker,
            turn.turn_id,
            dump_json(turn.metadata) if turn.metadata is not None else None,
            turn.token_count,
            turn.created_at,
            int(turn.compressed),
        ),
    ).rowcount
    if inserted:
        conn.execute(
            "UPDATE sessions SET turn_count = MAX(turn_count, ?)"
            " WHERE user_id = ? AND session_id = ?",
            (turn.turn_index + 1, turn.user_id, turn.session_id),
        )
    return bool(inserted)


def import_summary_row(conn: sqlite3.Connection, summary: Summary) -> bool:
    """Insert ``summary`` unless an identical one exists; True when inserted."""
    exists = conn.execute(
        "SELECT 1 FROM summaries WHERE user_id = ? AND session_id = ? AND boundary_index = ?"
        " AND content = ?",
        (summary.user_id, summary.session_id, summary.boundary_index, summary.content),
    ).fetchone()
    if exists is not None:
        return False
    conn.execute(
        "INSERT INTO summaries (user_id, session_id, boundary_index, content, token_count,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            summary.user_id,
            summary.session_id,
            summary.boundary_index,
            summary.content,
            summary.token_count,
            summary.created_at,
        ),
    )
    return True


def import_usage_log_row(conn: sqlite3.Connection, log: UsageLog) -> None:
    """Insert a complete ``UsageLog`` (feedback fields included); the id must be free."""
    conn.execute(
        "INSERT INTO usage_logs (log_id, user_id, session_id, created_at, query, mode, plan,"
        " action_state, retrieved_ids, kept_ids, response_excerpt, user_feedback, action_outcome,"
        " feedback_source, feedback_note, feedback_at, applied_counters)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            log.log_id,
            log.user_id,
            log.session_id,
            log.created_at,
            log.query,
            log.mode,
            dump_json(log.plan),
            dump_json(log.action_state),
            dump_json(log.retrieved_ids),
            dump_json(log.kept_ids),
            log.response_excerpt,
            log.user_feedback,
            log.action_outcome,
            log.feedback_source,
            log.feedback_note,
            log.feedback_at,
            dump_json(log.applied_counters) if log.applied_counters is not None else None,
        ),
    )


def upsert_imported_records(
    conn: sqlite3.Connection,
    records: Sequence[MemoryRecord],
    merge: Callable[[MemoryRecord, MemoryRecord], MemoryRecord],
) -> list[MemoryRecord]:
    """Save imported records; one whose id is already stored is ``merge(stored, incoming)``.

    Returns the records as written (merged where they existed).
    """
    written: list[MemoryRecord] = []
    for part in chunks(list(records)):
        user_ids = {record.user_id for record in part}
        stored: dict[str, MemoryRecord] = {}
        for user_id in user_ids:
            ids = [r.record_id for r in part if r.user_id == user_id]
            stored.update(fetch_records(conn, user_id, ids))
        for record in part:
            current = stored.get(record.record_id)
            final = merge(current, record) if current is not None else record
            save_record(conn, final)
            written.append(final)
    return written


def import_composites(
    conn: sqlite3.Connection, composites: Sequence[tuple[CompositeRecord, Sequence[str]]]
) -> None:
    """Insert imported composites with their direct member record ids."""
    for composite, direct in composites:
        insert_composite(conn, composite, direct)


def import_skills(conn: sqlite3.Connection, skills: Sequence[Skill]) -> None:
    """Insert or replace imported skills (unindexed until their vectors are written)."""
    for skill in skills:
        save_skill(conn, skill)


def import_usage_log_rows(conn: sqlite3.Connection, logs: Sequence[UsageLog]) -> None:
    """Insert complete imported usage logs; their ids must be free."""
    for log in logs:
        import_usage_log_row(conn, log)


def _import_sessions(
    conn: sqlite3.Connection,
    user_id: str,
    sessions: Sequence[SessionImport],
    turns: Sequence[Turn],
    now: str,
) -> SessionImportResult:
    result = SessionImportResult()
    for session in sessions:
        import_session_row(
            conn,
            user_id=user_id,
            session_id=session.session_id,
            topic=session.topic,
            tags=session.tags,
            created_at=session.created_at,
            updated_at=session.updated_at,
            consolidated_until=session.consolidated_until,
        )
    for turn in turns:
        ensure_session(conn, user_id, turn.session_id, now)
        if import_turn_row(conn, turn):
            result.turns_inserted += 1
        else:
            result.turns_skipped += 1
    result.clamped = [clamp_watermark(conn, user_id, s.session_id) for s in sessions]
    return result


def _import_summaries(
    conn: sqlite3.Connection, user_id: str, summaries: Sequence[Summary], now: str
) -> int:
    inserted = 0
    for summary in summaries:
        ensure_session(conn, user_id, summary.session_id, now)
        inserted += import_summary_row(conn, summary)
    return inserted


def _start(after: PageCursor | None, width: int) -> tuple[int, ...]:
    return tuple(int(part) for part in after) if after else (0,) * width


class SqliteTransferStore:
    """Implements ``TransferStore`` on the SQLite database (pages in rowid order)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def drain(self) -> None:
        """Wait for the queued fire-and-forget writes (usage logs, retrieval counters)."""
        await self.db.drain()

    async def export_counts(self, user_id: str) -> dict[str, int]:
        """Rows per exported kind of the caller."""
        return await self.db.read(partial(export_counts, user_id=user_id))

    async def record_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[MemoryRecord], PageCursor | None]:
        """Records after the rowid cursor."""
        (start,) = _start(after, 1)
        records, last = await self.db.read(
            partial(record_page, user_id=user_id, after=start, limit=limit)
        )
        return records, (last,)

    async def composite_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[CompositeRecord], PageCursor | None]:
        """Composites after the ``(level, rowid)`` cursor."""
        level, rowid = _start(after, 2)
        composites, last = await self.db.read(
            partial(composite_page, user_id=user_id, after=(level, rowid), limit=limit)
        )
        return composites, last

    async def _rows(
        self, table: str, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[sqlite3.Row], PageCursor | None]:
        (start,) = _start(after, 1)
        rows = await self.db.read(
            partial(rows_after, table=table, user_id=user_id, after=start, limit=limit)
        )
        return rows, ((rows[-1]["_rowid"],) if rows else after)

    async def skill_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Skill], PageCursor | None]:
        """Skills after the rowid cursor."""
        rows, cursor = await self._rows("skills", user_id, after, limit)
        return [skill_from_row(row) for row in rows], cursor

    async def session_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Session], PageCursor | None]:
        """Sessions after the rowid cursor."""
        rows, cursor = await self._rows("sessions", user_id, after, limit)
        return [session_from_row(row) for row in rows], cursor

    async def usage_log_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[UsageLog], PageCursor | None]:
        """Usage logs after the rowid cursor."""
        rows, cursor = await self._rows("usage_logs", user_id, after, limit)
        return [usage_log_from_row(row) for row in rows], cursor

    async def session_history(
        self, user_id: str, session_id: str
    ) -> tuple[list[Turn], list[Summary]]:
        """Every turn and summary of the session, read in one snapshot."""
        return await self.db.read(
            lambda conn: (
                fetch_turns(conn, user_id, session_id),
                fetch_summaries(conn, user_id, session_id),
            )
        )

    async def id_owners(self, table: OwnedTable, ids: Sequence[str]) -> dict[str, str]:
        """Owners of the ids already taken in ``table``."""
        return await self.db.read(partial(id_owners, table=table, ids=list(ids)))

    async def upsert_imported_records(
        self,
        records: Sequence[MemoryRecord],
        merge: Callable[[MemoryRecord, MemoryRecord], MemoryRecord],
    ) -> list[MemoryRecord]:
        """Save records, merging into stored ones."""
        return await self.db.write(
            partial(upsert_imported_records, records=list(records), merge=merge)
        )

    async def import_composites(
        self, composites: Sequence[tuple[CompositeRecord, Sequence[str]]]
    ) -> None:
        """Insert composites with their direct members."""
        await self.db.write(partial(import_composites, composites=list(composites)))

    async def import_skills(self, skills: Sequence[Skill]) -> None:
        """Insert or replace skills."""
        await self.db.write(partial(import_skills, skills=list(skills)))

    async def import_sessions(
        self,
        user_id: str,
        sessions: Sequence[SessionImport],
        turns: Sequence[Turn],
        *,
        now: str,
    ) -> SessionImportResult:
        """Sessions, then turns, then watermark clamps, in one write transaction."""
        return await self.db.write(
            lambda conn: _import_sessions(conn, user_id, sessions, turns, now)
        )

    async def import_summaries(
        self, user_id: str, summaries: Sequence[Summary], *, now: str
    ) -> int:
        """Insert the summaries not stored yet."""
        return await self.db.write(lambda conn: _import_summaries(conn, user_id, summaries, now))

    async def import_usage_logs(self, logs: Sequence[UsageLog]) -> None:
        """Insert complete usage logs."""
        await self.db.write(partial(import_usage_log_rows, logs=list(logs)))


# -- the whole database (``lycheemem migrate`` only) ---------------------------------------

_TENANT_TABLES = (
    "users",
    "sessions",
    "memory_records",
    "composite_records",
    "skills",
    "usage_logs",
    "longdoc_documents",
)


def embedding_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``embedding_model`` / ``embedding_dim`` the data directory's vectors were built with."""
    rows = conn.execute(
        "SELECT key, value FROM meta WHERE key IN ('embedding_model', 'embedding_dim')"
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def tenant_ids(conn: sqlite3.Connection) -> list[str]:
    """Every ``user_id`` that owns an account or any exported row, sorted. Not tenant-scoped:
    only the offline migration may use it."""
    union = " UNION ".join(f"SELECT user_id FROM {table}" for table in _TENANT_TABLES)
    return [row[0] for row in conn.execute(f"SELECT user_id FROM ({union}) ORDER BY user_id")]


def all_users(conn: sqlite3.Connection) -> list[User]:
    """Every account with its password hash and token version. Migration only."""
    rows = conn.execute(
        "SELECT user_id, username, password_hash, display_name, created_at, token_version"
        " FROM users ORDER BY created_at, user_id"
    ).fetchall()
    return [User(**dict(row)) for row in rows]
