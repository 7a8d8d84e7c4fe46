"""Usage logs and retrieval counters (written off the response path)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from lycheemem.memory.models import UsageLog
from lycheemem.storage.sqlite.records import chunks, placeholders
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = ["record_retrieval", "usage_log_from_row"]


def usage_log_from_row(row: sqlite3.Row) -> UsageLog:
    """Rebuild a ``UsageLog`` from its row."""
    return UsageLog(
        log_id=row["log_id"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        created_at=row["created_at"],
        query=row["query"],
        mode=row["mode"],
        plan=load_json(row["plan"], {}),
        action_state=load_json(row["action_state"], {}),
        retrieved_ids=load_json(row["retrieved_ids"], []),
        kept_ids=load_json(row["kept_ids"], []),
        response_excerpt=row["response_excerpt"],
        user_feedback=row["user_feedback"],
        action_outcome=row["action_outcome"],
        feedback_source=row["feedback_source"],
        feedback_note=row["feedback_note"],
        feedback_at=row["feedback_at"],
        applied_counters=load_json(row["applied_counters"], None),
    )


def _bump(
    conn: sqlite3.Connection,
    user_id: str,
    ids: Sequence[str],
    assignment: str,
    params: tuple[object, ...] = (),
) -> None:
    for table, column in (("memory_records", "record_id"), ("composite_records", "composite_id")):
        for part in chunks(list(ids)):
            conn.execute(
                f"UPDATE {table} SET {assignment} WHERE user_id = ? AND {column} IN"
                f" ({placeholders(len(part))})",
                (*params, user_id, *part),
            )


def record_retrieval(
    conn: sqlite3.Connection, log: UsageLog, skill_ids: Sequence[str], now: str
) -> None:
    """Store the usage log and bump retrieval counters of scored, selected and skill items."""
    conn.execute(
        "INSERT INTO usage_logs (log_id, user_id, session_id, created_at, query, mode, plan,"
        " action_state, retrieved_ids, kept_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )
    _bump(conn, log.user_id, log.retrieved_ids, "retrieval_count = retrieval_count + 1")
    _bump(
        conn,
        log.user_id,
        log.kept_ids,
        "retrieval_hit_count = retrieval_hit_count + 1, last_retrieved_at = ?",
        (now,),
    )
    for part in chunks(list(skill_ids)):
        conn.execute(
            f"UPDATE skills SET usage_count = usage_count + 1, last_used = ?"
            f" WHERE user_id = ? AND skill_id IN ({placeholders(len(part))})",
            (now, log.user_id, *part),
        )
