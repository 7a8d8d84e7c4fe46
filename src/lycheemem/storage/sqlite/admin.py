"""SQL behind export and import: pages of one tenant's rows and the writes of an import.

Plain sync functions of a ``sqlite3.Connection`` (run them through ``db.read`` /
``db.write``). Browsing and bulk deletes live in ``catalog_sql`` and ``deletes``; the
cross-tenant index maintenance in ``maintenance``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    Skill,
    Summary,
    Turn,
    UsageLog,
)
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
from lycheemem.storage.sqlite.skills import save_skill

__all__ = [
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


def _scalar(conn: sqlite3.Connection, sql: str, user_id: str) -> int:
    return int(conn.execute(sql, (user_id,)).fetchone()[0])


def export_counts(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """How many rows of each exported kind the caller has."""
    tables = {
        "records": "memory_records",
        "composites": "composite_records",
        "skills": "skills",
        "sessions": "sessions",
        "turns": "turns",
        "summaries": "summaries",
        "usage_logs": "usage_logs",
    }
    return {
        name: _scalar(conn, f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", user_id)
        for name, table in tables.items()
    }


# -- import writes -------------------------------------------------------------

_OWNED_IDS = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
    "usage_logs": "log_id",
}


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
