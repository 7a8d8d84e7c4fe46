"""The durable job queue on PostgreSQL (``JobStore``), safe for many replicas.

A claim takes one row ``FOR UPDATE SKIP LOCKED`` so concurrent workers on any replica never
take the same job; a job whose lease expired (its replica died) is claimable again, and a
session with a live running job on any replica is skipped so one session never runs two jobs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from lycheemem.clock import format_ts
from lycheemem.domain.models import Job
from lycheemem.storage.postgres.database import Conn, PgDatabase

__all__ = ["PgJobStore"]

_FIELDS = (
    "job_id, kind, user_id, session_id, status, priority, attempts, max_attempts, not_before,"
    " lease_expires_at, created_at, started_at, finished_at, retrieved_context, force, result,"
    " error, cancel_requested"
)


def _job(row: dict[str, Any]) -> Job:
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
        result=row["result"],
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
    )


async def _one(conn: Conn, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


class PgJobStore:
    """Implements ``JobStore`` on the ``jobs`` table."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def enqueue(self, **fields: Any) -> Job:
        """Queue a job, or merge into the session's queued one of this kind (earliest
        ``not_before``, highest priority, ``force`` ORed, context appended)."""
        user_id, session_id, kind = fields["user_id"], fields["session_id"], fields["kind"]
        context = fields.get("retrieved_context", "")
        force = bool(fields.get("force", False))
        async with self._db.tenant(user_id) as conn:
            row = await _one(
                conn,
                "INSERT INTO jobs (job_id, kind, user_id, session_id, status, priority,"
                " max_attempts, not_before, created_at, retrieved_context, force)"
                " VALUES (%s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (user_id, session_id, kind) WHERE status = 'queued' DO UPDATE SET"
                " retrieved_context = CASE WHEN excluded.retrieved_context = ''"
                "   THEN jobs.retrieved_context"
                "   ELSE trim(jobs.retrieved_context || E'\\n' || excluded.retrieved_context) END,"
                " not_before = LEAST(jobs.not_before, excluded.not_before),"
                " priority = GREATEST(jobs.priority, excluded.priority),"
                " force = jobs.force OR excluded.force"
                f" RETURNING {_FIELDS}",
                (
                    uuid.uuid4().hex,
                    kind,
                    user_id,
                    session_id,
                    fields["priority"],
                    fields["max_attempts"],
                    fields["not_before"],
                    fields["now"],
                    context,
                    force,
                ),
            )
        assert row is not None
        return _job(row)

    async def claim(
        self,
        *,
        now: str,
        lease_until: str,
        kinds: tuple[str, ...],
        busy_sessions: set[tuple[str, str]],
    ) -> Job | None:
        """Atomically take the best eligible job: queued, or running with an expired lease
        (its replica died); skips sessions busy here or running live on another replica."""
        busy_users = [user for user, _ in busy_sessions]
        busy_ids = [session for _, session in busy_sessions]
        async with self._db.system() as conn:
            row = await _one(
                conn,
                "SELECT job_id FROM jobs j WHERE kind = ANY(%s) AND not_before <= %s"
                " AND (status = 'queued' OR (status = 'running' AND lease_expires_at < %s))"
                " AND NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS b(u, s)"
                "   WHERE b.u = j.user_id AND b.s = j.session_id)"
                " AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.user_id = j.user_id"
                "   AND r.session_id = j.session_id AND r.status = 'running'"
                "   AND r.job_id <> j.job_id AND r.lease_expires_at >= %s)"
                " ORDER BY priority DESC, not_before, created_at, seq"
                " LIMIT 1 FOR UPDATE SKIP LOCKED",
                (list(kinds), now, now, busy_users, busy_ids, now),
            )
            if row is None:
                return None
            claimed = await _one(
                conn,
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = %s,"
                f" lease_expires_at = %s WHERE job_id = %s RETURNING {_FIELDS}",
                (now, lease_until, row["job_id"]),
            )
        return _job(claimed) if claimed else None

    async def renew(self, job_id: str, *, lease_until: str) -> bool:
        """Extend a running job's lease; False if it is no longer running."""
        async with self._db.system() as conn:
            cur = await conn.execute(
                "UPDATE jobs SET lease_expires_at = %s WHERE job_id = %s AND status = 'running'",
                (lease_until, job_id),
            )
            return cur.rowcount == 1

    async def is_cancelled(self, job_id: str) -> bool:
        """True when the job was cancelled (or deleted) since it started."""
        async with self._db.system() as conn:
            row = await _one(conn, "SELECT cancel_requested FROM jobs WHERE job_id = %s", (job_id,))
        return row is None or bool(row["cancel_requested"])

    async def finish(self, job_id: str, *, now: str, result: dict[str, Any]) -> None:
        """Mark a job done with its result."""
        async with self._db.system() as conn:
            await conn.execute(
                "UPDATE jobs SET status = 'done', finished_at = %s, result = %s, error = NULL,"
                " lease_expires_at = NULL WHERE job_id = %s",
                (now, Jsonb(result), job_id),
            )

    async def fail(
        self, job_id: str, *, now: str, error: str, result: dict[str, Any], retry_at: str | None
    ) -> None:
        """Requeue for ``retry_at``, or mark failed when ``retry_at`` is None (or when a newer
        queued job of the session will consume the same turns)."""
        async with self._db.system() as conn:
            row = await _one(conn, "SELECT * FROM jobs WHERE job_id = %s FOR UPDATE", (job_id,))
            if row is None:
                return
            queued = None
            if retry_at is not None:
                queued = await _one(
                    conn,
                    "SELECT job_id FROM jobs WHERE user_id = %s AND session_id = %s AND kind = %s"
                    " AND status = 'queued'",
                    (row["user_id"], row["session_id"], row["kind"]),
                )
            if retry_at is None or queued is not None:
                await conn.execute(
                    "UPDATE jobs SET status = 'failed', finished_at = %s, error = %s, result = %s,"
                    " lease_expires_at = NULL WHERE job_id = %s",
                    (now, error[:2000], Jsonb(result), job_id),
                )
                return
            await conn.execute(
                "UPDATE jobs SET status = 'queued', not_before = %s, error = %s, result = %s,"
                " lease_expires_at = NULL WHERE job_id = %s",
                (retry_at, error[:2000], Jsonb(result), job_id),
            )

    async def cancel(self, job_id: str, *, now: str) -> None:
        """Finish a cancelled job as failed with error ``cancelled``."""
        async with self._db.system() as conn:
            await conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = %s, error = 'cancelled'"
                " WHERE job_id = %s",
                (now, job_id),
            )

    async def requeue_running(self) -> int:
        """Return to the queue the running jobs whose lease has expired.

        Unlike the embedded store (one process: every running job at startup is orphaned),
        jobs of live replicas keep running; only expired leases are taken back.
        """
        now = format_ts(datetime.now(UTC))
        async with self._db.system() as conn:
            cur = await conn.execute(
                "UPDATE jobs SET status = 'queued', lease_expires_at = NULL"
                " WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < %s)",
                (now,),
            )
            return cur.rowcount

    async def get(self, user_id: str, job_id: str) -> Job | None:
        """The caller's job, or None."""
        async with self._db.tenant(user_id) as conn:
            row = await _one(
                conn,
                f"SELECT {_FIELDS} FROM jobs WHERE user_id = %s AND job_id = %s",
                (user_id, job_id),
            )
        return _job(row) if row else None

    async def latest(self, user_id: str, session_id: str | None, kind: str) -> Job | None:
        """The caller's most recent job of ``kind`` (of that session, if given)."""
        async with self._db.tenant(user_id) as conn:
            row = await _one(
                conn,
                f"SELECT {_FIELDS} FROM jobs WHERE user_id = %s AND kind = %s"
                " AND (%s::text IS NULL OR session_id = %s)"
                " ORDER BY created_at DESC, seq DESC LIMIT 1",
                (user_id, kind, session_id, session_id),
            )
        return _job(row) if row else None

    async def counts(self, user_id: str | None = None) -> dict[str, int]:
        """Number of jobs by status (of one tenant, or all when ``user_id`` is None)."""
        scope = self._db.system() if user_id is None else self._db.tenant(user_id)
        async with scope as conn:
            cur = await conn.execute(
                "SELECT status, COUNT(*) AS n FROM jobs"
                " WHERE (%s::text IS NULL OR user_id = %s) GROUP BY status",
                (user_id, user_id),
            )
            return {row["status"]: int(row["n"]) for row in await cur.fetchall()}
