"""SQL of the deletes that span several tables of one tenant: the whole graph, the skills,
the whole tenant, and what one session taught.

Plain sync functions of a ``sqlite3.Connection``, each run inside one ``db.write``
transaction; every statement filters on ``user_id``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from lycheemem.domain.models import MemoryRecord, SourceRef
from lycheemem.domain.ports import TenantDeletion
from lycheemem.storage.sqlite.records import delete_items, fetch_composites, fetch_records
from lycheemem.storage.sqlite.rows import dump_json

__all__ = [
    "clear_graph_rows",
    "clear_skill_rows",
    "delete_skill_row",
    "delete_tenant_rows",
    "forget_session_items",
]

# -- deletes -------------------------------------------------------------------


def _delete_returning(conn: sqlite3.Connection, table: str, column: str, user_id: str) -> list[str]:
    rows = conn.execute(
        f"DELETE FROM {table} WHERE user_id = ? RETURNING {column}", (user_id,)
    ).fetchall()
    return [row[0] for row in rows]


def clear_graph_rows(conn: sqlite3.Connection, user_id: str) -> tuple[list[str], list[str], int]:
    """Delete the caller's records, composites, tags, links and usage logs.

    Returns ``(record_ids, composite_ids, usage_logs_deleted)``.
    """
    record_ids = _delete_returning(conn, "memory_records", "record_id", user_id)
    composite_ids = _delete_returning(conn, "composite_records", "composite_id", user_id)
    for table in ("composite_members", "memory_tags", "item_sessions"):
        conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
    logs = conn.execute("DELETE FROM usage_logs WHERE user_id = ?", (user_id,)).rowcount
    return record_ids, composite_ids, int(logs)


def clear_skill_rows(conn: sqlite3.Connection, user_id: str) -> list[str]:
    """Delete every skill of the caller; returns their ids."""
    return _delete_returning(conn, "skills", "skill_id", user_id)


def delete_skill_row(conn: sqlite3.Connection, user_id: str, skill_id: str) -> bool:
    """Delete one of the caller's skills; False when the caller has no such skill."""
    cursor = conn.execute(
        "DELETE FROM skills WHERE user_id = ? AND skill_id = ?", (user_id, skill_id)
    )
    return cursor.rowcount > 0


def _delete_tenant_jobs(conn: sqlite3.Connection, user_id: str) -> int:
    """Delete the caller's jobs; running ones are only flagged for cancellation."""
    deleted = conn.execute(
        "DELETE FROM jobs WHERE user_id = ? AND status != 'running'", (user_id,)
    ).rowcount
    flagged = conn.execute(
        "UPDATE jobs SET cancel_requested = 1 WHERE user_id = ? AND status = 'running'",
        (user_id,),
    ).rowcount
    return int(deleted + flagged)


def delete_tenant_rows(conn: sqlite3.Connection, user_id: str) -> TenantDeletion:
    """Delete everything of the caller's semantic memory, skills, sessions and jobs."""
    record_ids, composite_ids, logs = clear_graph_rows(conn, user_id)
    skill_ids = clear_skill_rows(conn, user_id)
    turns = int(
        conn.execute("SELECT COUNT(*) FROM turns WHERE user_id = ?", (user_id,)).fetchone()[0]
    )
    conn.execute("DELETE FROM summaries WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM turns WHERE user_id = ?", (user_id,))
    session_ids = _delete_returning(conn, "sessions", "session_id", user_id)
    jobs = _delete_tenant_jobs(conn, user_id)
    return TenantDeletion(
        record_ids=record_ids,
        composite_ids=composite_ids,
        skill_ids=skill_ids,
        session_ids=session_ids,
        turns=turns,
        usage_logs=logs,
        jobs=jobs,
    )


# -- forgetting a session ------------------------------------------------------


def _session_item_ids(conn: sqlite3.Connection, user_id: str, session_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT item_id FROM item_sessions WHERE user_id = ? AND session_id = ?"
        " UNION SELECT record_id FROM memory_records WHERE user_id = ? AND source_session_id = ?",
        (user_id, session_id, user_id, session_id),
    ).fetchall()
    return [row[0] for row in rows]


def _without_session(sources: Sequence[SourceRef], session_id: str) -> list[SourceRef]:
    return [source for source in sources if source.session_id != session_id]


def _strip_record(conn: sqlite3.Connection, record: MemoryRecord, session_id: str) -> None:
    """Remove ``session_id`` from a record that keeps other sources."""
    remaining = _without_session(record.sources, session_id)
    first = record.source_session_id
    turn_ids, turn_refs = record.source_turn_ids, record.source_turn_refs
    if first == session_id:
        heir = remaining[0]
        first, turn_ids, turn_refs = heir.session_id, heir.turn_ids, heir.turn_refs
    conn.execute(
        "UPDATE memory_records SET sources = ?, source_session_id = ?, source_turn_ids = ?,"
        " source_turn_refs = ? WHERE user_id = ? AND record_id = ?",
        (
            dump_json([s.as_dict() for s in remaining]),
            first,
            dump_json(turn_ids),
            dump_json(turn_refs),
            record.user_id,
            record.record_id,
        ),
    )


def _keeps_other_source(record: MemoryRecord, session_id: str) -> bool:
    if _without_session(record.sources, session_id):
        return True
    return record.source_session_id not in (None, session_id)


def forget_session_items(
    conn: sqlite3.Connection, user_id: str, session_id: str
) -> tuple[list[str], list[str]]:
    """Forget what a session taught: returns the deleted ``(record_ids, composite_ids)``.

    Records sourced only from the session are deleted with every composite that
    covers them (ancestors included); records and surviving composites with other
    sources lose the session from ``sources`` and from ``item_sessions``.
    """
    ids = _session_item_ids(conn, user_id, session_id)
    records = fetch_records(conn, user_id, ids)
    doomed = [rid for rid, r in records.items() if not _keeps_other_source(r, session_id)]
    for rid, record in records.items():
        if rid not in doomed:
            _strip_record(conn, record, session_id)
    deleted_records, deleted_composites = delete_items(conn, user_id, doomed, [])
    gone = set(deleted_composites)
    for composite in fetch_composites(conn, user_id, ids).values():
        if composite.composite_id not in gone:
            remaining = _without_session(composite.sources, session_id)
            conn.execute(
                "UPDATE composite_records SET sources = ? WHERE user_id = ? AND composite_id = ?",
                (dump_json([s.as_dict() for s in remaining]), user_id, composite.composite_id),
            )
    conn.execute(
        "DELETE FROM item_sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    )
    return deleted_records, deleted_composites
