"""Sessions, turns and summaries on PostgreSQL (``SessionStore``).

Appends to one session are ordered by ``pg_advisory_xact_lock`` on the session's key, so
any number of replicas append gap-free without an in-process lock; every statement also
filters on ``user_id`` (row-level security is the second wall).
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from lycheemem.domain.models import Session, Summary, Turn
from lycheemem.domain.ports import AppendOutcome, SessionListItem
from lycheemem.storage.postgres.database import Conn, PgDatabase

__all__ = ["PgSessionStore", "lock_session"]


def _session(row: dict[str, Any]) -> Session:
    return Session(
        user_id=row["user_id"],
        session_id=row["session_id"],
        topic=row["topic"],
        tags=list(row["tags"] or []),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        turn_count=row["turn_count"],
        consolidated_until=row["last_consolidated_turn_index"],
    )


def _turn(row: dict[str, Any]) -> Turn:
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
        metadata=row["metadata"],
        compressed=bool(row["compressed"]),
    )


def _summary(row: dict[str, Any]) -> Summary:
    return Summary(
        user_id=row["user_id"],
        session_id=row["session_id"],
        boundary_index=row["boundary_index"],
        content=row["content"],
        token_count=row["token_count"],
        created_at=row["created_at"],
        summary_id=row["id"],
    )


async def lock_session(conn: Conn, user_id: str, session_id: str) -> None:
    """Hold the session's advisory lock until the transaction ends (all replicas honour it)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{user_id}\x1f{session_id}",)
    )


async def ensure_session(conn: Conn, user_id: str, session_id: str, now: str) -> None:
    """Create the session row if it does not exist (inside the caller's transaction)."""
    await conn.execute(
        "INSERT INTO sessions (user_id, session_id, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, session_id) DO NOTHING",
        (user_id, session_id, now, now),
    )


async def fetch_session(conn: Conn, user_id: str, session_id: str) -> Session | None:
    """The session row, or None."""
    cur = await conn.execute(
        "SELECT * FROM sessions WHERE user_id = %s AND session_id = %s", (user_id, session_id)
    )
    row = await cur.fetchone()
    return _session(row) if row is not None else None


async def fetch_turns(
    conn: Conn,
    user_id: str,
    session_id: str,
    *,
    from_index: int = 0,
    limit: int = -1,
    active_only: bool = False,
) -> list[Turn]:
    """Turns of the session in index order from ``from_index`` (``limit`` -1: all)."""
    sql = "SELECT * FROM turns WHERE user_id = %s AND session_id = %s AND turn_index >= %s"
    if active_only:
        sql += " AND NOT compressed"
    sql += " ORDER BY turn_index LIMIT %s"
    cur = await conn.execute(sql, (user_id, session_id, from_index, None if limit < 0 else limit))
    return [_turn(row) for row in await cur.fetchall()]


async def fetch_summaries(conn: Conn, user_id: str, session_id: str) -> list[Summary]:
    """Every summary of the session, oldest first."""
    cur = await conn.execute(
        "SELECT * FROM summaries WHERE user_id = %s AND session_id = %s ORDER BY id",
        (user_id, session_id),
    )
    return [_summary(row) for row in await cur.fetchall()]


async def _append(conn: Conn, turn: Turn, now: str) -> AppendOutcome:
    await lock_session(conn, turn.user_id, turn.session_id)
    await ensure_session(conn, turn.user_id, turn.session_id, now)
    cur = await conn.execute(
        "SELECT turn_count FROM sessions WHERE user_id = %s AND session_id = %s",
        (turn.user_id, turn.session_id),
    )
    row = await cur.fetchone()
    count = int(row["turn_count"]) if row else 0
    if turn.turn_id is not None:
        cur = await conn.execute(
            "SELECT turn_index FROM turns WHERE user_id = %s AND session_id = %s AND turn_id = %s",
            (turn.user_id, turn.session_id, turn.turn_id),
        )
        existing = await cur.fetchone()
        if existing is not None:
            return AppendOutcome("duplicate", existing["turn_index"], count, turn.turn_id)
    await conn.execute(
        "INSERT INTO turns (user_id, session_id, turn_index, role, content, speaker, turn_id,"
        " metadata, token_count, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            turn.user_id,
            turn.session_id,
            count,
            turn.role,
            turn.content,
            turn.speaker,
            turn.turn_id,
            Jsonb(turn.metadata) if turn.metadata is not None else None,
            turn.token_count,
            turn.created_at,
        ),
    )
    await conn.execute(
        "UPDATE sessions SET turn_count = turn_count + 1, updated_at = %s"
        " WHERE user_id = %s AND session_id = %s",
        (now, turn.user_id, turn.session_id),
    )
    turn.turn_index = count
    return AppendOutcome("appended", count, count + 1, turn.turn_id)


class PgSessionStore:
    """Implements ``SessionStore`` on the sessions/turns/summaries tables."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def append_turn(self, turn: Turn, *, now: str) -> AppendOutcome:
        """Append ``turn`` at the session's next index under the session's advisory lock."""
        async with self._db.tenant(turn.user_id) as conn:
            return await _append(conn, turn, now)

    async def get(self, user_id: str, session_id: str) -> Session | None:
        """The caller's session, or None."""
        async with self._db.tenant(user_id) as conn:
            return await fetch_session(conn, user_id, session_id)

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
        async with self._db.tenant(user_id) as conn:
            return await fetch_turns(
                conn, user_id, session_id, from_index=offset, limit=limit, active_only=active_only
            )

    async def summaries(self, user_id: str, session_id: str) -> list[Summary]:
        """Every summary of the session, oldest first."""
        async with self._db.tenant(user_id) as conn:
            return await fetch_summaries(conn, user_id, session_id)

    async def working_set(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, Summary | None, list[Turn]]:
        """The session, its latest summary and its active turns, read consistently: under the
        session's advisory lock, which appends and compressions also take."""
        async with self._db.tenant(user_id) as conn:
            await lock_session(conn, user_id, session_id)
            session = await fetch_session(conn, user_id, session_id)
            if session is None:
                return None, None, []
            summaries = await fetch_summaries(conn, user_id, session_id)
            active = await fetch_turns(conn, user_id, session_id, active_only=True)
            return session, (summaries[-1] if summaries else None), active

    async def list_sessions(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[SessionListItem], int]:
        """The caller's sessions, newest update first, with the overall total."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT COUNT(*) AS n FROM sessions WHERE user_id = %s", (user_id,)
            )
            total_row = await cur.fetchone()
            cur = await conn.execute(
                "SELECT s.*,"
                " (SELECT content FROM turns t WHERE t.user_id = s.user_id"
                "   AND t.session_id = s.session_id AND t.role = 'user'"
                "   ORDER BY turn_index DESC LIMIT 1) AS last_user,"
                " (SELECT content FROM turns t WHERE t.user_id = s.user_id"
                "   AND t.session_id = s.session_id AND t.role = 'user'"
                "   ORDER BY turn_index ASC LIMIT 1) AS first_user"
                " FROM sessions s WHERE s.user_id = %s"
                " ORDER BY s.updated_at DESC, s.session_id LIMIT %s OFFSET %s",
                (user_id, limit, offset),
            )
            items = [
                SessionListItem(_session(row), row["last_user"] or "", row["first_user"] or "")
                for row in await cur.fetchall()
            ]
            return items, int(total_row["n"]) if total_row else 0

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
        async with self._db.tenant(user_id) as conn:
            await ensure_session(conn, user_id, session_id, now)
            await conn.execute(
                "UPDATE sessions SET updated_at = %s,"
                " topic = CASE WHEN %s THEN %s ELSE topic END,"
                " tags = COALESCE(%s, tags) WHERE user_id = %s AND session_id = %s",
                (
                    now,
                    set_topic,
                    topic,
                    Jsonb(tags) if tags is not None else None,
                    user_id,
                    session_id,
                ),
            )
            session = await fetch_session(conn, user_id, session_id)
            assert session is not None
            return session

    async def apply_compression(
        self,
        user_id: str,
        session_id: str,
        *,
        summary: Summary,
        folded_indexes: list[int],
        expected_previous_summary_id: int | None,
    ) -> bool:
        """Store ``summary`` and mark ``folded_indexes`` compressed, atomically; False (nothing
        written) when another summary was stored since the compression was computed."""
        async with self._db.tenant(user_id) as conn:
            await lock_session(conn, user_id, session_id)
            cur = await conn.execute(
                "SELECT MAX(id) AS latest FROM summaries WHERE user_id = %s AND session_id = %s",
                (user_id, session_id),
            )
            row = await cur.fetchone()
            if (row["latest"] if row else None) != expected_previous_summary_id:
                return False
            await conn.execute(
                "INSERT INTO summaries (user_id, session_id, boundary_index, content, token_count,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    user_id,
                    session_id,
                    summary.boundary_index,
                    summary.content,
                    summary.token_count,
                    summary.created_at,
                ),
            )
            await conn.execute(
                "UPDATE turns SET compressed = true"
                " WHERE user_id = %s AND session_id = %s AND turn_index = ANY(%s)",
                (user_id, session_id, list(folded_indexes)),
            )
            return True
