"""Durable background jobs in SQLite: enqueue (debounced upsert), claim with a lease, finish."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from lycheemem.domain.models import Job
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = ["SqliteJobStore", "enqueue_job"]


def job_from_row(row: sqlite3.Row) -> Job:
    """Rebuild a ``Job`` from its row."""
    return Job(
        job_id=row["job_id"],
        kind=row["kind"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        status=row["status"],
        created_at=row["created_at"],
        not_before=row["not_before"],
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        lease_expires_at=row["lease_expires_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        retrieved_context=row["retrieved_context"],
        force=bool(row["force"]),
        result=load_json(row["result"], None),
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def enqueue_job(
    conn: sqlite3.Connection,
    *,
    kind: str,
    user_id: str,
    session_id: str,
    now: str,
    not_before: str,
    priority: int,
    max_attempts: int,
    retrieved_context: str = "",
    force: bool = False,
) -> Job:
    """Queue a job, or reuse the session's queued one of this kind.

    Reuse appends ``retrieved_context``, keeps the earliest ``not_before`` and
    the highest priority, and ORs ``force``.
    """
    existing = conn.execute(
        "SELECT * FROM jobs WHERE user_id = ? AND session_id = ? AND kind = ?"
        " AND status = 'queued'",
        (user_id, session_id, kind),
    ).fetchone()
    if existing is not None:
        context = existing["retrieved_context"]
        if retrieved_context:
            context = f"{context}\n{retrieved_context}".strip()
        row = conn.execute(
            "UPDATE jobs SET retrieved_context = ?, not_before = MIN(not_before, ?),"
            " priority = MAX(priority, ?), force = MAX(force, ?) WHERE job_id = ? RETURNING *",
            (context, not_before, priority, int(force), existing["job_id"]),
        ).fetchone()
        return job_from_row(row)
    row = conn.execute(
        "INSERT INTO jobs (job_id, kind, user_id, session_id, status, priority, attempts,"
        " max_attempts, not_before, created_at, retrieved_context, force)"
        " VALUES (?, ?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?, ?) RETURNING *",
        (
            uuid.uuid4().hex,
            kind,
            user_id,
            session_id,
            priority,
            max_attempts,
            not_before,
            now,
            retrieved_context,
            int(force),
        ),
    ).fetchone()
    return job_from_row(row)


class SqliteJobStore:
    """Implements the ``JobStore`` protocol on the ``jobs`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(self, **fields: Any) -> Job:
        """See ``enqueue_job``."""
        return await self._db.write(lambda conn: enqueue_job(conn, **fields), touches_memory=False)

    async def claim(
        self,
        *,
        now: str,
        lease_until: str,
        kinds: tuple[str, ...],
        busy_sessions: set[tuple[str, str]],
    ) -> Job | None:
        """Atomically take the best eligible queued job (priority, then age).

        Jobs of sessions in ``busy_sessions`` are skipped so one session never
        runs two jobs at once.
        """

        def claim(conn: sqlite3.Connection) -> Job | None:
            marks = ", ".join("?" * len(kinds))
            rows = conn.execute(
                f"SELECT job_id, user_id, session_id FROM jobs WHERE status = 'queued'"
                f" AND not_before <= ? AND kind IN ({marks})"
                " ORDER BY priority DESC, not_before, created_at LIMIT 50",
                (now, *kinds),
            ).fetchall()
            for row in rows:
                if (row["user_id"], row["session_id"]) in busy_sessions:
                    continue
                claimed = conn.execute(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1,"
                    " started_at = ?, lease_expires_at = ? WHERE job_id = ? AND status = 'queued'"
                    " RETURNING *",
                    (now, lease_until, row["job_id"]),
                ).fetchone()
                if claimed is not None:
                    return job_from_row(claimed)
            return None

        return await self._db.write(claim, touches_memory=False)

    async def renew(self, job_id: str, *, lease_until: str) -> bool:
        """Extend a running job's lease; False if it is no longer running."""
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET lease_expires_at = ? WHERE job_id = ? AND status = 'running'",
                    (lease_until, job_id),
                ).rowcount
                == 1
            ),
            touches_memory=False,
        )

    async def is_cancelled(self, job_id: str) -> bool:
        """True when the job was cancelled (or deleted) since it started."""

        def read(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT cancel_requested FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            return row is None or bool(row[0])

        return await self._db.read(read)

    async def finish(self, job_id: str, *, now: str, result: dict[str, Any]) -> None:
        """Mark a job done with its result."""
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = ?, result = ?, error = NULL,"
                " lease_expires_at = NULL WHERE job_id = ?",
                (now, dump_json(result), job_id),
            ),
            touches_memory=False,
        )

    async def fail(
        self, job_id: str, *, now: str, error: str, result: dict[str, Any], retry_at: str | None
    ) -> None:
        """Requeue for ``retry_at``, or mark failed when ``retry_at`` is None."""

        def write(conn: sqlite3.Connection) -> None:
            if retry_at is None:
                conn.execute(
                    "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, result = ?,"
                    " lease_expires_at = NULL WHERE job_id = ?",
                    (now, error[:2000], dump_json(result), job_id),
                )
                return
            row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            queued = conn.execute(
                "SELECT job_id FROM jobs WHERE user_id = ? AND session_id = ? AND kind = ?"
                " AND status = 'queued'",
                (row["user_id"], row["session_id"], row["kind"]),
            ).fetchone()
            if queued is not None:
                # a newer queued job of the session will consume the same turns
                conn.execute(
                    "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, result = ?"
                    " WHERE job_id = ?",
                    (now, error[:2000], dump_json(result), job_id),
                )
                return
            conn.execute(
                "UPDATE jobs SET status = 'queued', not_before = ?, error = ?, result = ?,"
                " lease_expires_at = NULL WHERE job_id = ?",
                (retry_at, error[:2000], dump_json(result), job_id),
            )

        await self._db.write(write, touches_memory=False)

    async def cancel(self, job_id: str, *, now: str) -> None:
        """Finish a cancelled job as failed with error ``cancelled``."""
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, error = 'cancelled'"
                " WHERE job_id = ?",
                (now, job_id),
            ),
            touches_memory=False,
        )

    async def requeue_running(self) -> int:
        """Return jobs left ``running`` by a dead process to the queue (startup)."""
        return await self._db.write(
            lambda conn: (
                conn.execute(
                    "UPDATE jobs SET status = 'queued', lease_expires_at = NULL"
                    " WHERE status = 'running'"
                ).rowcount
            ),
            touches_memory=False,
        )

    async def get(self, user_id: str, job_id: str) -> Job | None:
        """The caller's job, or None."""

        def read(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(
                "SELECT * FROM jobs WHERE user_id = ? AND job_id = ?", (user_id, job_id)
            ).fetchone()
            return job_from_row(row) if row else None

        return await self._db.read(read)

    async def latest(self, user_id: str, session_id: str | None, kind: str) -> Job | None:
        """The caller's most recent job of ``kind`` (of that session, if given)."""

        def read(conn: sqlite3.Connection) -> Job | None:
            sql = "SELECT * FROM jobs WHERE user_id = ? AND kind = ?"
            params: list[Any] = [user_id, kind]
            if session_id is not None:
                sql += " AND session_id = ?"
                params.append(session_id)
            row = conn.execute(
                sql + " ORDER BY created_at DESC, rowid DESC LIMIT 1", params
            ).fetchone()
            return job_from_row(row) if row else None

        return await self._db.read(read)

    async def counts(self, user_id: str | None = None) -> dict[str, int]:
        """Number of jobs by status (of one tenant, or all when ``user_id`` is None)."""

        def read(conn: sqlite3.Connection) -> dict[str, int]:
            if user_id is None:
                rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            else:
                rows = conn.execute(
                    "SELECT status, COUNT(*) FROM jobs WHERE user_id = ? GROUP BY status",
                    (user_id,),
                )
            return {row[0]: row[1] for row in rows}

        return await self._db.read(read)
