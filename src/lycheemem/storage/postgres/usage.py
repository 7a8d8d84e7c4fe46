"""Usage logs, retrieval counters and outcome feedback on PostgreSQL (``UsageStore``).

Mirrors ``storage.sqlite.usage``: a relabel reverts the counters its previous label applied,
so feedback never counts twice; every statement filters on ``user_id``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from psycopg.types.json import Jsonb

from lycheemem.domain.models import UsageLog
from lycheemem.errors import RecordNotFound, UsageLogNotFound
from lycheemem.storage.postgres.database import Conn, PgDatabase

__all__ = ["PgUsageStore", "record_retrieval"]

COUNTER_COLUMNS = {"success": "action_success_count", "fail": "action_fail_count"}
_ITEM_TABLES = (("memory_records", "record_id"), ("composite_records", "composite_id"))


def _log_from_row(row: dict[str, Any]) -> UsageLog:
    return UsageLog(
        log_id=row["log_id"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        created_at=row["created_at"],
        query=row["query"],
        mode=row["mode"],
        plan=dict(row["plan"] or {}),
        action_state=dict(row["action_state"] or {}),
        retrieved_ids=list(row["retrieved_ids"] or []),
        kept_ids=list(row["kept_ids"] or []),
        response_excerpt=row["response_excerpt"],
        user_feedback=row["user_feedback"],
        action_outcome=row["action_outcome"],
        feedback_source=row["feedback_source"],
        feedback_note=row["feedback_note"],
        feedback_at=row["feedback_at"],
        applied_counters=row["applied_counters"],
    )


async def _bump(
    conn: Conn, user_id: str, ids: Sequence[str], assignment: str, params: Sequence[object] = ()
) -> None:
    """Apply ``assignment`` (fixed SQL of this module) to the caller's records/composites."""
    if not ids:
        return
    for table, column in _ITEM_TABLES:
        await conn.execute(
            f"UPDATE {table} SET {assignment} WHERE user_id = %s AND {column} = ANY(%s)",
            (*params, user_id, list(ids)),
        )


async def record_retrieval(conn: Conn, log: UsageLog, skill_ids: Sequence[str], now: str) -> None:
    """Store the usage log and bump retrieval counters of scored, selected and skill items."""
    await conn.execute(
        "INSERT INTO usage_logs (log_id, user_id, session_id, created_at, query, mode, plan,"
        " action_state, retrieved_ids, kept_ids) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            log.log_id,
            log.user_id,
            log.session_id,
            log.created_at,
            log.query,
            log.mode,
            Jsonb(log.plan),
            Jsonb(log.action_state),
            Jsonb(log.retrieved_ids),
            Jsonb(log.kept_ids),
        ),
    )
    await _bump(conn, log.user_id, log.retrieved_ids, "retrieval_count = retrieval_count + 1")
    await _bump(
        conn,
        log.user_id,
        log.kept_ids,
        "retrieval_hit_count = retrieval_hit_count + 1, last_retrieved_at = %s",
        (now,),
    )
    if skill_ids:
        await conn.execute(
            "UPDATE skills SET usage_count = usage_count + 1, last_used = %s"
            " WHERE user_id = %s AND skill_id = ANY(%s)",
            (now, log.user_id, list(skill_ids)),
        )


async def _fetch_log(conn: Conn, user_id: str, log_id: str) -> UsageLog | None:
    cur = await conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = %s AND log_id = %s", (user_id, log_id)
    )
    row = await cur.fetchone()
    return _log_from_row(row) if row else None


async def _latest_log(conn: Conn, user_id: str, session_id: str) -> UsageLog | None:
    cur = await conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = %s AND session_id = %s"
        " ORDER BY created_at DESC, seq DESC LIMIT 1",
        (user_id, session_id),
    )
    row = await cur.fetchone()
    return _log_from_row(row) if row else None


async def _latest_unresolved(
    conn: Conn, user_id: str, session_id: str, since: str, window: int = 10
) -> UsageLog | None:
    """Newest of the session's last ``window`` logs since ``since`` that is an action/mixed
    retrieval without an outcome yet (MEMORY.md §13)."""
    cur = await conn.execute(
        "SELECT * FROM usage_logs WHERE user_id = %s AND session_id = %s AND created_at >= %s"
        " ORDER BY created_at DESC, seq DESC LIMIT %s",
        (user_id, session_id, since, window),
    )
    for row in await cur.fetchall():
        if row["mode"] in ("action", "mixed") and not row["action_outcome"]:
            return _log_from_row(row)
    return None


async def _existing_ids(conn: Conn, user_id: str, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    cur = await conn.execute(
        "SELECT record_id AS item_id FROM memory_records WHERE user_id = %s"
        " AND record_id = ANY(%s) UNION SELECT composite_id FROM composite_records"
        " WHERE user_id = %s AND composite_id = ANY(%s)",
        (user_id, list(ids), user_id, list(ids)),
    )
    return {row["item_id"] for row in await cur.fetchall()}


async def _revert(conn: Conn, user_id: str, applied: dict[str, object] | None) -> None:
    if not applied:
        return
    column = applied.get("column")
    ids = applied.get("ids")
    if column not in COUNTER_COLUMNS.values() or not isinstance(ids, list):
        return
    await _bump(conn, user_id, [str(i) for i in ids], f"{column} = GREATEST(0, {column} - 1)")


async def _apply_feedback(
    conn: Conn,
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
    """Label ``log`` (when given) and bump the outcome counter of ``record_ids``; a previous
    label's counters are reverted first. Returns the ids whose counters changed."""
    if log is not None:
        cur = await conn.execute(
            "SELECT applied_counters FROM usage_logs WHERE user_id = %s AND log_id = %s FOR UPDATE",
            (user_id, log.log_id),
        )
        current = await cur.fetchone()
        await _revert(conn, user_id, current["applied_counters"] if current else None)
    targets = sorted(await _existing_ids(conn, user_id, record_ids))
    column = COUNTER_COLUMNS[outcome]
    await _bump(conn, user_id, targets, f"{column} = {column} + 1")
    if log is not None:
        await conn.execute(
            "UPDATE usage_logs SET user_feedback = %s, action_outcome = %s,"
            " feedback_source = %s, feedback_note = COALESCE(%s, feedback_note),"
            " feedback_at = %s, applied_counters = %s WHERE user_id = %s AND log_id = %s",
            (
                feedback,
                outcome,
                source,
                note,
                now,
                Jsonb({"column": column, "ids": targets}),
                user_id,
                log.log_id,
            ),
        )
    return targets


async def _target_log(
    conn: Conn, user_id: str, usage_log_id: str | None, session_id: str | None
) -> UsageLog | None:
    if usage_log_id is not None:
        log = await _fetch_log(conn, user_id, usage_log_id)
        if log is None:
            raise UsageLogNotFound(f"Usage log {usage_log_id!r} not found")
        return log
    if session_id is not None:
        log = await _latest_log(conn, user_id, session_id)
        if log is None:
            raise UsageLogNotFound(f"No usage log for session {session_id!r}")
        return log
    return None


class PgUsageStore:
    """Usage logs and the outcome counters feedback bumps (``domain.ports.UsageStore``); each
    method is one tenant transaction."""

    def __init__(
        self, db: PgDatabase, *, settle: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._db = db
        # The search's usage-log writes run in the background (PgSemanticStore.drain):
        # feedback on a log this process just wrote must not race ahead of that write.
        self._settle = settle

    async def _scope(self, user_id: str) -> AbstractAsyncContextManager[Any]:
        if self._settle is not None:
            await self._settle()
        return self._db.tenant(user_id)

    async def label_latest_unresolved(
        self, user_id: str, session_id: str, *, since: str, feedback: str, outcome: str, now: str
    ) -> tuple[str, list[str]] | None:
        """Label the session's newest unresolved action/mixed log since ``since``."""
        async with await self._scope(user_id) as conn:
            log = await _latest_unresolved(conn, user_id, session_id, since)
            if log is None:
                return None
            updated = await _apply_feedback(
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
        async with await self._scope(user_id) as conn:
            log = await _target_log(conn, user_id, usage_log_id, session_id)
            targets = (
                list(record_ids) if record_ids is not None else list(log.kept_ids if log else [])
            )
            if record_ids:
                existing = await _existing_ids(conn, user_id, record_ids)
                missing = [i for i in record_ids if i not in existing]
                if missing:
                    raise RecordNotFound(missing[0])
            updated = await _apply_feedback(
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

    async def set_response_excerpt(self, user_id: str, log_id: str, excerpt: str) -> None:
        """Store the start of the answer on the usage log."""
        async with await self._scope(user_id) as conn:
            await conn.execute(
                "UPDATE usage_logs SET response_excerpt = %s WHERE user_id = %s AND log_id = %s",
                (excerpt, user_id, log_id),
            )

    async def get(self, user_id: str, log_id: str) -> UsageLog | None:
        """The caller's usage log, or None."""
        async with await self._scope(user_id) as conn:
            return await _fetch_log(conn, user_id, log_id)

    async def session_feedback(self, user_id: str, session_id: str) -> dict[str, str]:
        """``{log_id: feedback}`` for the labelled logs of the caller's session."""
        async with await self._scope(user_id) as conn:
            cur = await conn.execute(
                "SELECT log_id, user_feedback FROM usage_logs WHERE user_id = %s"
                " AND session_id = %s AND user_feedback IS NOT NULL",
                (user_id, session_id),
            )
            return {row["log_id"]: row["user_feedback"] for row in await cur.fetchall()}
