"""Usage logs and retrieval counters (written off the response path)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from lycheemem.domain.models import UsageLog
from lycheemem.errors import RecordNotFound, UsageLogNotFound
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.records import chunks, placeholders
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = [
    "SqliteUsageStore",
    "apply_feedback",
    "existing_item_ids",
    "fetch_usage_log",
    "latest_unresolved_log",
    "latest_usage_log",
    "record_retrieval",
    "session_feedback",
    "set_response_excerpt",
    "usage_log_from_row",
]

COUNTER_COLUMNS = {"success": "action_success_count", "fail": "action_fail_count"}


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
            # ``+user_id``: probe the unique id index, not the tenant's whole user_id index.
            conn.execute(
                f"UPDATE {table} SET {assignment} WHERE {column} IN"
                f" ({placeholders(len(part))}) AND +user_id = ?",
                (*params, *part, user_id),
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


def fetch_usage_log(conn: sqlite3.Connection, user_id: str, log_id: str) -> UsageLog | None:
    """The caller's usage log ``log_id``, or None."""
    row = conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = ? AND log_id = ?", (user_id, log_id)
    ).fetchone()
    return usage_log_from_row(row) if row else None


def latest_usage_log(conn: sqlite3.Connection, user_id: str, session_id: str) -> UsageLog | None:
    """The most recent usage log of the caller's session, or None."""
    row = conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = ? AND session_id = ?"
        " ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (user_id, session_id),
    ).fetchone()
    return usage_log_from_row(row) if row else None


def session_feedback(conn: sqlite3.Connection, user_id: str, session_id: str) -> dict[str, str]:
    """The labels given so far to the caller's session's usage logs: ``{log_id: feedback}``."""
    rows = conn.execute(
        "SELECT log_id, user_feedback FROM usage_logs WHERE user_id = ? AND session_id = ?"
        " AND user_feedback IS NOT NULL",
        (user_id, session_id),
    ).fetchall()
    return {row["log_id"]: row["user_feedback"] for row in rows}


def latest_unresolved_log(
    conn: sqlite3.Connection, user_id: str, session_id: str, since: str, window: int = 10
) -> UsageLog | None:
    """Newest of the session's last ``window`` logs (created at or after ``since``) that is an
    action/mixed retrieval without an outcome yet (MEMORY.md §13)."""
    rows = conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = ? AND session_id = ? AND created_at >= ?"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (user_id, session_id, since, window),
    ).fetchall()
    for row in rows:
        if row["mode"] in ("action", "mixed") and not row["action_outcome"]:
            return usage_log_from_row(row)
    return None


def existing_item_ids(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are records or composites of the caller."""
    found: set[str] = set()
    for table, column in (("memory_records", "record_id"), ("composite_records", "composite_id")):
        for part in chunks(list(ids)):
            rows = conn.execute(
                f"SELECT {column} FROM {table} WHERE {column} IN"
                f" ({placeholders(len(part))}) AND +user_id = ?",
                (*part, user_id),
            ).fetchall()
            found.update(row[0] for row in rows)
    return found


def _revert(conn: sqlite3.Connection, user_id: str, applied: dict[str, object] | None) -> None:
    if not applied:
        return
    column = applied.get("column")
    ids = applied.get("ids")
    if column not in COUNTER_COLUMNS.values() or not isinstance(ids, list):
        return
    _bump(conn, user_id, [str(i) for i in ids], f"{column} = MAX(0, {column} - 1)")


def apply_feedback(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    log: UsageLog | None,
    feedback: str,
    outcome: str,
    source: str,
    record_ids: Sequence[str],
    note: str | None,
    now: str,
) -> list[str]:
    """Label ``log`` (when given) and bump the outcome counter of ``record_ids``.

    A previous label's counter changes are reverted first, so relabelling never counts
    twice. Returns the ids whose counters changed. Runs inside the caller's transaction.
    """
    if log is not None:
        current = conn.execute(
            "SELECT applied_counters FROM usage_logs WHERE user_id = ? AND log_id = ?",
            (user_id, log.log_id),
        ).fetchone()
        _revert(conn, user_id, load_json(current[0], None) if current else None)
    targets = sorted(existing_item_ids(conn, user_id, record_ids))
    column = COUNTER_COLUMNS[outcome]
    _bump(conn, user_id, targets, f"{column} = {column} + 1")
    if log is not None:
        conn.execute(
            "UPDATE usage_logs SET user_feedback = ?, action_outcome = ?, feedback_source = ?,"
            " feedback_note = COALESCE(?, feedback_note), feedback_at = ?, applied_counters = ?"
            " WHERE user_id = ? AND log_id = ?",
            (
                feedback,
                outcome,
                source,
                note,
                now,
                dump_json({"column": column, "ids": targets}),
                user_id,
                log.log_id,
            ),
        )
    return targets


def set_response_excerpt(conn: sqlite3.Connection, user_id: str, log_id: str, excerpt: str) -> None:
    """Store the start of the answer given with a retrieval."""
    conn.execute(
        "UPDATE usage_logs SET response_excerpt = ? WHERE user_id = ? AND log_id = ?",
        (excerpt, user_id, log_id),
    )


def _target_log(
    conn: sqlite3.Connection, user_id: str, usage_log_id: str | None, session_id: str | None
) -> UsageLog | None:
    if usage_log_id is not None:
        log = fetch_usage_log(conn, user_id, usage_log_id)
        if log is None:
            raise UsageLogNotFound(f"Usage log {usage_log_id!r} not found")
        return log
    if session_id is not None:
        log = latest_usage_log(conn, user_id, session_id)
        if log is None:
            raise UsageLogNotFound(f"No usage log for session {session_id!r}")
        return log
    return None


class SqliteUsageStore:
    """Usage logs and the outcome counters feedback bumps (``domain.ports.UsageStore``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def label_latest_unresolved(
        self, user_id: str, session_id: str, *, since: str, feedback: str, outcome: str, now: str
    ) -> tuple[str, list[str]] | None:
        """Label the session's newest unresolved action/mixed log since ``since``."""

        def write(conn: sqlite3.Connection) -> tuple[str, list[str]] | None:
            log = latest_unresolved_log(conn, user_id, session_id, since)
            if log is None:
                return None
            updated = apply_feedback(
                conn,
                user_id=user_id,
                log=log,
                feedback=feedback,
                outcome=outcome,
                source="implicit",
                record_ids=log.kept_ids,
                note=None,
                now=now,
            )
            return log.log_id, updated

        return await self._db.write(write)

    async def label_explicit(
        self,
        user_id: str,
        *,
        usage_log_id: str | None,
        session_id: str | None,
        record_ids: Sequence[str] | None,
        feedback: str,
        outcome: str,
        note: str | None,
        now: str,
    ) -> tuple[str | None, list[str]]:
        """Label a log (or bare records) atomically; returns the log id and updated ids."""

        def write(conn: sqlite3.Connection) -> tuple[str | None, list[str]]:
            log = _target_log(conn, user_id, usage_log_id, session_id)
            targets = (
                list(record_ids) if record_ids is not None else list(log.kept_ids if log else [])
            )
            if record_ids:
                missing = [
                    i for i in record_ids if i not in existing_item_ids(conn, user_id, record_ids)
                ]
                if missing:
                    raise RecordNotFound(missing[0])
            updated = apply_feedback(
                conn,
                user_id=user_id,
                log=log,
                feedback=feedback,
                outcome=outcome,
                source="explicit",
                record_ids=targets,
                note=note,
                now=now,
            )
            return (log.log_id if log else None), updated

        return await self._db.write(write)

    async def set_response_excerpt(self, user_id: str, log_id: str, excerpt: str) -> None:
        """Store the start of the answer on the usage log."""
        await self._db.write(lambda conn: set_response_excerpt(conn, user_id, log_id, excerpt))

    async def get(self, user_id: str, log_id: str) -> UsageLog | None:
        """The caller's usage log, or None."""
        return await self._db.read(lambda conn: fetch_usage_log(conn, user_id, log_id))

    async def session_feedback(self, user_id: str, session_id: str) -> dict[str, str]:
        """``{log_id: feedback}`` for the labelled logs of the caller's session."""
        return await self._db.read(lambda conn: session_feedback(conn, user_id, session_id))
