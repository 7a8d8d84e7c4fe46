"""Deletes that span several tables of one tenant, each in one transaction."""

from __future__ import annotations

import sqlite3

from lycheemem.domain.ports import SessionDeletion
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.deletes import forget_session_items
from lycheemem.storage.sqlite.sessions import delete_session_rows

__all__ = ["SessionDeletion", "SqliteTenancyStore"]


def _cancel_session_jobs(conn: sqlite3.Connection, user_id: str, session_id: str) -> int:
    """Delete queued jobs of the session and flag running ones for cancellation."""
    queued = conn.execute(
        "DELETE FROM jobs WHERE user_id = ? AND session_id = ? AND status = 'queued'",
        (user_id, session_id),
    ).rowcount
    running = conn.execute(
        "UPDATE jobs SET cancel_requested = 1"
        " WHERE user_id = ? AND session_id = ? AND status = 'running'",
        (user_id, session_id),
    ).rowcount
    return queued + running


def delete_session_everything(
    conn: sqlite3.Connection, user_id: str, session_id: str, *, forget_memories: bool = False
) -> SessionDeletion:
    """Delete a session's turns, summaries, metadata, usage logs and pending jobs.

    With ``forget_memories`` also the records it alone taught and every composite
    covering them; other items lose the session from their sources.
    """
    logs = conn.execute(
        "DELETE FROM usage_logs WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    ).rowcount
    jobs = _cancel_session_jobs(conn, user_id, session_id)
    turns = delete_session_rows(conn, user_id, session_id)
    deletion = SessionDeletion(turns, logs, jobs)
    if forget_memories:
        deletion.record_ids, deletion.composite_ids = forget_session_items(
            conn, user_id, session_id
        )
    return deletion


class SqliteTenancyStore:
    """Cross-table deletes of one tenant's data."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def delete_session(
        self, user_id: str, session_id: str, *, forget_memories: bool = False
    ) -> SessionDeletion:
        """Delete one session and everything attached to it, atomically."""
        return await self._db.write(
            lambda conn: delete_session_everything(
                conn, user_id, session_id, forget_memories=forget_memories
            )
        )
