"""Sessions, turns and working-memory summaries.

Every statement filters on ``user_id``: sessions are keyed by
``(user_id, session_id)`` so one tenant can never address another's session.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from lycheemem.domain.models import Session, Summary, Turn
from lycheemem.domain.ports import AppendOutcome, SessionListItem
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = ["AppendOutcome", "SessionListItem", "SqliteSessionStore", "ensure_session"]


def session_from_row(row: sqlite3.Row) -> Session:
    """The ``Session`` of one ``sessions`` row."""
    return Session(
        user_id=row["user_id"],
        session_id=row["session_id"],
        topic=row["topic"],
        tags=load_json(row["tags"], []),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        turn_count=row["turn_count"],
        consolidated_until=row["last_consolidated_turn_index"],
    )


def _turn(row: sqlite3.Row) -> Turn:
    return Turn(
        user_id=row["user_id"],
        session_id=row["session_id"],
        turn_index=row["turn_index"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        token_count=row["token_count"],
        speaker=row["speaker"],
        turn_id=row["turn_id"],
        metadata=load_json(row["metadata"], None),
        compressed=bool(row["compressed"]),
    )


def _summary(row: sqlite3.Row) -> Summary:
    return Summary(
        user_id=row["user_id"],
        session_id=row["session_id"],
        boundary_index=row["boundary_index"],
        content=row["content"],
        token_count=row["token_count"],
        created_at=row["created_at"],
        summary_id=row["id"],
    )


def ensure_session(conn: sqlite3.Connection, user_id: str, session_id: str, now: str) -> None:
    """Create the session row if it does not exist (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO sessions (user_id, session_id, tags, created_at, updated_at)"
        " VALUES (?, ?, '[]', ?, ?) ON CONFLICT (user_id, session_id) DO NOTHING",
        (user_id, session_id, now, now),
    )


def append_turn_rows(conn: sqlite3.Connection, turn: Turn, now: str) -> AppendOutcome:
    """Store ``turn`` at the next index of its session (created on first use).

    ``turn.turn_index`` is ignored and assigned here. A ``turn_id`` already
    present in the session returns ``duplicate`` and stores nothing.
    """
    ensure_session(conn, turn.user_id, turn.session_id, now)
    if turn.turn_id is not None:
        existing = conn.execute(
            "SELECT turn_index FROM turns WHERE user_id = ? AND session_id = ? AND turn_id = ?",
            (turn.user_id, turn.session_id, turn.turn_id),
        ).fetchone()
        if existing is not None:
            count = conn.execute(
                "SELECT turn_count FROM sessions WHERE user_id = ? AND session_id = ?",
                (turn.user_id, turn.session_id),
            ).fetchone()[0]
            return AppendOutcome("duplicate", existing[0], count, turn.turn_id)
    index = conn.execute(
        "SELECT turn_count FROM sessions WHERE user_id = ? AND session_id = ?",
        (turn.user_id, turn.session_id),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO turns (user_id, session_id, turn_index, role, content, speaker, turn_id,"
        " metadata, token_count, created_at, compressed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        (
            turn.user_id,
            turn.session_id,
            index,
            turn.role,
            turn.content,
            turn.speaker,
            turn.turn_id,
            dump_json(turn.metadata) if turn.metadata is not None else None,
            turn.token_count,
            turn.created_at,
        ),
    )
    conn.execute(
        "UPDATE sessions SET turn_count = turn_count + 1, updated_at = ?"
        " WHERE user_id = ? AND session_id = ?",
        (now, turn.user_id, turn.session_id),
    )
    turn.turn_index = index
    return AppendOutcome("appended", index, index + 1, turn.turn_id)


def fetch_session(conn: sqlite3.Connection, user_id: str, session_id: str) -> Session | None:
    """The session row, or None when it does not exist in this namespace."""
    row = conn.execute(
        "SELECT * FROM sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    ).fetchone()
    return session_from_row(row) if row is not None else None


def fetch_turns(
    conn: sqlite3.Connection,
    user_id: str,
    session_id: str,
    *,
    from_index: int = 0,
    limit: int = -1,
    active_only: bool = False,
) -> list[Turn]:
    """Turns of the session in index order, starting at ``from_index``."""
    sql = "SELECT * FROM turns WHERE user_id = ? AND session_id = ? AND turn_index >= ?"
    if active_only:
        sql += " AND compressed = 0"
    sql += " ORDER BY turn_index LIMIT ?"
    rows = conn.execute(sql, (user_id, session_id, from_index, limit)).fetchall()
    return [_turn(row) for row in rows]


def fetch_summaries(conn: sqlite3.Connection, user_id: str, session_id: str) -> list[Summary]:
    """Every summary of the session, oldest first."""
    rows = conn.execute(
        "SELECT * FROM summaries WHERE user_id = ? AND session_id = ? ORDER BY id",
        (user_id, session_id),
    ).fetchall()
    return [_summary(row) for row in rows]


def delete_session_rows(conn: sqlite3.Connection, user_id: str, session_id: str) -> int:
    """Delete the session with its turns and summaries; return the number of turns deleted."""
    turns = conn.execute(
        "SELECT COUNT(*) FROM turns WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    ).fetchone()[0]
    conn.execute("DELETE FROM sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id))
    return int(turns)


class SqliteSessionStore:
    """Implements the ``SessionStore`` protocol on the sessions/turns/summaries tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append_turn(self, turn: Turn, *, now: str) -> AppendOutcome:
        """Append ``turn`` (see ``append_turn_rows``) in its own transaction."""
        return await self._db.write(
            lambda conn: append_turn_rows(conn, turn, now), touches_memory=False
        )

    async def get(self, user_id: str, session_id: str) -> Session | None:
        """The caller's session, or None."""
        return await self._db.read(lambda conn: fetch_session(conn, user_id, session_id))

    async def turns(
        self,
        user_id: str,
        session_id: str,
        *,
        offset: int = 0,
        limit: int = -1,
        active_only: bool = False,
    ) -> list[Turn]:
        """Turns in index order from ``offset``."""
        return await self._db.read(
            lambda conn: fetch_turns(
                conn, user_id, session_id, from_index=offset, limit=limit, active_only=active_only
            )
        )

    async def summaries(self, user_id: str, session_id: str) -> list[Summary]:
        """Every summary of the session, oldest first."""
        return await self._db.read(lambda conn: fetch_summaries(conn, user_id, session_id))

    async def working_set(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, Summary | None, list[Turn]]:
        """The session, its latest summary and its active turns, read consistently."""

        def read(conn: sqlite3.Connection) -> tuple[Session | None, Summary | None, list[Turn]]:
            session = fetch_session(conn, user_id, session_id)
            if session is None:
                return None, None, []
            summaries = fetch_summaries(conn, user_id, session_id)
            active = fetch_turns(conn, user_id, session_id, active_only=True)
            return session, (summaries[-1] if summaries else None), active

        return await self._db.read(read)

    async def list_sessions(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[SessionListItem], int]:
        """The caller's sessions, newest update first, with the overall total."""

        def read(conn: sqlite3.Connection) -> tuple[list[SessionListItem], int]:
            total = conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            rows = conn.execute(
                "SELECT s.*,"
                " (SELECT content FROM turns t WHERE t.user_id = s.user_id"
                "   AND t.session_id = s.session_id AND t.role = 'user'"
                "   ORDER BY turn_index DESC LIMIT 1) AS last_user,"
                " (SELECT content FROM turns t WHERE t.user_id = s.user_id"
                "   AND t.session_id = s.session_id AND t.role = 'user'"
                "   ORDER BY turn_index ASC LIMIT 1) AS first_user"
                " FROM sessions s WHERE s.user_id = ?"
                " ORDER BY s.updated_at DESC, s.session_id LIMIT ? OFFSET ?",
                (user_id, limit, offset),
            ).fetchall()
            items = [
                SessionListItem(
                    session_from_row(row), row["last_user"] or "", row["first_user"] or ""
                )
                for row in rows
            ]
            return items, int(total)

        return await self._db.read(read)

    async def update_meta(
        self,
        user_id: str,
        session_id: str,
        *,
        topic: str | None,
        tags: list[str] | None,
        set_topic: bool,
        now: str,
    ) -> Session:
        """Set topic and/or tags (creating the session if needed); unsent fields stay."""

        def write(conn: sqlite3.Connection) -> Session:
            ensure_session(conn, user_id, session_id, now)
            updates: list[str] = ["updated_at = ?"]
            params: list[Any] = [now]
            if set_topic:
                updates.append("topic = ?")
                params.append(topic)
            if tags is not None:
                updates.append("tags = ?")
                params.append(dump_json(tags))
            conn.execute(
                f"UPDATE sessions SET {', '.join(updates)} WHERE user_id = ? AND session_id = ?",
                (*params, user_id, session_id),
            )
            session = fetch_session(conn, user_id, session_id)
            assert session is not None
            return session

        return await self._db.write(write, touches_memory=False)

    async def apply_compression(
        self,
        user_id: str,
        session_id: str,
        *,
        summary: Summary,
        folded_indexes: list[int],
        expected_previous_summary_id: int | None,
    ) -> bool:
        """Store ``summary`` and mark ``folded_indexes`` compressed, atomically.

        Returns False (and changes nothing) when another summary was stored
        since the compression was computed, so stale work is never applied.
        """

        def write(conn: sqlite3.Connection) -> bool:
            latest = conn.execute(
                "SELECT MAX(id) FROM summaries WHERE user_id = ? AND session_id = ?",
                (user_id, session_id),
            ).fetchone()[0]
            if latest != expected_previous_summary_id:
                return False
            conn.execute(
                "INSERT INTO summaries (user_id, session_id, boundary_index, content, token_count,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    session_id,
                    summary.boundary_index,
                    summary.content,
                    summary.token_count,
                    summary.created_at,
                ),
            )
            conn.executemany(
                "UPDATE turns SET compressed = 1"
                " WHERE user_id = ? AND session_id = ? AND turn_index = ?",
                [(user_id, session_id, index) for index in folded_indexes],
            )
            return True

        return await self._db.write(write, touches_memory=False)
