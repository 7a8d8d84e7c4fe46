"""``TenancyStore`` on PostgreSQL: deleting a session with everything attached to it."""

from __future__ import annotations

from lycheemem.domain.ports import SessionDeletion
from lycheemem.storage.postgres.database import Conn, PgDatabase
from lycheemem.storage.postgres.deletes import forget_session_items
from lycheemem.storage.postgres.sessions import lock_session

__all__ = ["PgTenancyStore", "delete_session_everything"]


async def _cancel_session_jobs(conn: Conn, user_id: str, session_id: str) -> int:
    """Delete queued jobs of the session and flag running ones for cancellation."""
    queued = await conn.execute(
        "DELETE FROM jobs WHERE user_id = %s AND session_id = %s AND status = 'queued'",
        (user_id, session_id),
    )
    running = await conn.execute(
        "UPDATE jobs SET cancel_requested = true"
        " WHERE user_id = %s AND session_id = %s AND status = 'running'",
        (user_id, session_id),
    )
    return queued.rowcount + running.rowcount


async def delete_session_everything(
    conn: Conn, user_id: str, session_id: str, *, forget_memories: bool = False
) -> SessionDeletion:
    """Delete a session's turns, summaries, skipped turns, usage logs and pending jobs.

    Holds the session's advisory lock first, so an append on any replica waits for the
    delete. With ``forget_memories`` also the records it alone taught and every composite
    covering them (vectors included); other items lose the session from their sources.
    """
    await lock_session(conn, user_id, session_id)
    logs = await conn.execute(
        "DELETE FROM usage_logs WHERE user_id = %s AND session_id = %s", (user_id, session_id)
    )
    jobs = await _cancel_session_jobs(conn, user_id, session_id)
    cur = await conn.execute(
        "SELECT COUNT(*) AS n FROM turns WHERE user_id = %s AND session_id = %s",
        (user_id, session_id),
    )
    row = await cur.fetchone()
    # turns, summaries and skipped turns follow the session row (ON DELETE CASCADE)
    await conn.execute(
        "DELETE FROM sessions WHERE user_id = %s AND session_id = %s", (user_id, session_id)
    )
    deletion = SessionDeletion(int(row["n"]) if row else 0, logs.rowcount, jobs)
    if forget_memories:
        deletion.record_ids, deletion.composite_ids = await forget_session_items(
            conn, user_id, session_id
        )
    return deletion


class PgTenancyStore:
    """Implements ``domain.ports.TenancyStore`` on PostgreSQL (one transaction per delete)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def delete_session(
        self, user_id: str, session_id: str, *, forget_memories: bool = False
    ) -> SessionDeletion:
        """Delete one session and everything attached to it, atomically."""
        async with self._db.tenant(user_id) as conn:
            return await delete_session_everything(
                conn, user_id, session_id, forget_memories=forget_memories
            )
