"""``TransferStore`` on PostgreSQL: the pages an export reads and the rows an import writes.

Mirrors ``storage.sqlite.transfer`` statement for statement. Pages follow the serial ids
(records, composites, skills), ``seq`` (usage logs) or ``(created_at, session_id)`` (sessions
have no serial id). Each write runs in its tenant's transaction (row-level security applies);
``id_owners`` reads in the system scope because it must see ids taken by other tenants, and
returns nothing of them but the owner. Turn imports take the session's advisory lock, so they
interleave safely with appends through any replica.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    Session,
    Skill,
    Summary,
    Turn,
    UsageLog,
    User,
)
from lycheemem.domain.transfer_store import (
    OwnedTable,
    PageCursor,
    SessionImport,
    SessionImportResult,
)
from lycheemem.storage.postgres.database import Conn, PgDatabase
from lycheemem.storage.postgres.semantic_rows import (
    composite_from_row,
    fetch_by_ids,
    insert_composite,
    record_from_row,
    save_record,
    save_skill,
    skill_from_row,
)
from lycheemem.storage.postgres.sessions import (
    ensure_session,
    fetch_summaries,
    fetch_turns,
    lock_session,
)

__all__ = ["PgTransferStore", "put_meta_once", "upsert_user"]

_EXPORTED_TABLES = {
    "records": "memory_records",
    "composites": "composite_records",
    "skills": "skills",
    "sessions": "sessions",
    "turns": "turns",
    "summaries": "summaries",
    "usage_logs": "usage_logs",
}
_OWNED_IDS = {"skills": "skill_id", "usage_logs": "log_id"}


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


def _usage_log(row: dict[str, Any]) -> UsageLog:
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


def _by_user(items: Sequence[Any]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(item.user_id, []).append(item)
    return groups


async def _rows(conn: Conn, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
    cur = await conn.execute(sql, params)
    return list(await cur.fetchall())


async def _import_session(conn: Conn, user_id: str, session: SessionImport) -> None:
    cur = await conn.execute(
        "INSERT INTO sessions (user_id, session_id, topic, tags, created_at, updated_at,"
        " last_consolidated_turn_index) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, session_id) DO NOTHING",
        (
            user_id,
            session.session_id,
            session.topic,
            Jsonb(list(session.tags)),
            session.created_at,
            session.updated_at,
            session.consolidated_until,
        ),
    )
    if not cur.rowcount and session.topic:
        await conn.execute(
            "UPDATE sessions SET topic = %s WHERE user_id = %s AND session_id = %s"
            " AND topic IS NULL",
            (session.topic, user_id, session.session_id),
        )


async def _import_turn(conn: Conn, turn: Turn) -> bool:
    # DO NOTHING without a target skips a taken turn_index and a taken client turn_id alike,
    # as SQLite's INSERT OR IGNORE does.
    cur = await conn.execute(
        "INSERT INTO turns (user_id, session_id, turn_index, role, content, speaker, turn_id,"
        " metadata, token_count, created_at, compressed)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (
            turn.user_id,
            turn.session_id,
            turn.turn_index,
            turn.role,
            turn.content,
            turn.speaker,
            turn.turn_id,
            Jsonb(turn.metadata) if turn.metadata is not None else None,
            turn.token_count,
            turn.created_at,
            turn.compressed,
        ),
    )
    if not cur.rowcount:
        return False
    await conn.execute(
        "UPDATE sessions SET turn_count = GREATEST(turn_count, %s)"
        " WHERE user_id = %s AND session_id = %s",
        (turn.turn_index + 1, turn.user_id, turn.session_id),
    )
    return True


async def _clamp_watermark(conn: Conn, user_id: str, session_id: str) -> int | None:
    cur = await conn.execute(
        "UPDATE sessions SET last_consolidated_turn_index = turn_count"
        " WHERE user_id = %s AND session_id = %s AND last_consolidated_turn_index > turn_count"
        " RETURNING turn_count",
        (user_id, session_id),
    )
    row = await cur.fetchone()
    return None if row is None else int(row["turn_count"])


async def _import_summary(conn: Conn, summary: Summary) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM summaries WHERE user_id = %s AND session_id = %s"
        " AND boundary_index = %s AND content = %s",
        (summary.user_id, summary.session_id, summary.boundary_index, summary.content),
    )
    if await cur.fetchone() is not None:
        return False
    await conn.execute(
        "INSERT INTO summaries (user_id, session_id, boundary_index, content, token_count,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (
            summary.user_id,
            summary.session_id,
            summary.boundary_index,
            summary.content,
            summary.token_count,
            summary.created_at,
        ),
    )
    return True


async def _import_usage_log(conn: Conn, log: UsageLog) -> None:
    await conn.execute(
        "INSERT INTO usage_logs (log_id, user_id, session_id, created_at, query, mode, plan,"
        " action_state, retrieved_ids, kept_ids, response_excerpt, user_feedback, action_outcome,"
        " feedback_source, feedback_note, feedback_at, applied_counters)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
            log.response_excerpt,
            log.user_feedback,
            log.action_outcome,
            log.feedback_source,
            log.feedback_note,
            log.feedback_at,
            Jsonb(log.applied_counters) if log.applied_counters is not None else None,
        ),
    )


async def upsert_user(db: PgDatabase, user: User) -> None:
    """Copy an account as it is (password hash and token version included); an existing row
    with the same ``user_id`` is brought up to date. For ``lycheemem migrate`` only."""
    async with db.tenant(user.user_id) as conn:
        await conn.execute(
            "INSERT INTO users (user_id, username, password_hash, display_name, created_at,"
            " token_version) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET"
            " username = EXCLUDED.username, password_hash = EXCLUDED.password_hash,"
            " display_name = EXCLUDED.display_name, created_at = EXCLUDED.created_at,"
            " token_version = GREATEST(users.token_version, EXCLUDED.token_version)",
            (
                user.user_id,
                user.username,
                user.password_hash,
                user.display_name,
                user.created_at,
                user.token_version,
            ),
        )


async def put_meta_once(db: PgDatabase, key: str, value: str) -> str:
    """Store ``meta[key] = value`` unless the key is set; returns the value stored now."""
    async with db.system() as conn:
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (key, value),
        )
        cur = await conn.execute("SELECT value FROM meta WHERE key = %s", (key,))
        row = await cur.fetchone()
    return str(row["value"]) if row else value


class PgTransferStore:
    """Implements ``TransferStore`` on PostgreSQL.

    ``drain`` waits for the background usage-log writes of this process (pass
    ``PgSemanticStore.drain``); without one there is nothing queued to wait for.
    """

    def __init__(
        self, db: PgDatabase, *, drain: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._db = db
        self._drain = drain

    async def drain(self) -> None:
        """Wait for this process's queued fire-and-forget writes."""
        if self._drain is not None:
            await self._drain()

    async def export_counts(self, user_id: str) -> dict[str, int]:
        """Rows per exported kind of the caller."""
        counts: dict[str, int] = {}
        async with self._db.tenant(user_id) as conn:
            for name, table in _EXPORTED_TABLES.items():
                rows = await _rows(
                    conn, f"SELECT COUNT(*) AS n FROM {table} WHERE user_id = %s", (user_id,)
                )
                counts[name] = int(rows[0]["n"])
        return counts

    async def _page(self, user_id: str, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
        async with self._db.tenant(user_id) as conn:
            return await _rows(conn, sql, params)

    async def record_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[MemoryRecord], PageCursor | None]:
        """Records after the serial-id cursor."""
        start = int(after[0]) if after else 0
        rows = await self._page(
            user_id,
            "SELECT * FROM memory_records WHERE user_id = %s AND id > %s ORDER BY id LIMIT %s",
            (user_id, start, limit),
        )
        return [record_from_row(row) for row in rows], ((rows[-1]["id"],) if rows else after)

    async def composite_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[CompositeRecord], PageCursor | None]:
        """Composites after the ``(level, id)`` cursor."""
        level, start = (int(after[0]), int(after[1])) if after else (0, 0)
        rows = await self._page(
            user_id,
            "SELECT * FROM composite_records WHERE user_id = %s AND (level, id) > (%s, %s)"
            " ORDER BY level, id LIMIT %s",
            (user_id, level, start, limit),
        )
        last = (rows[-1]["level"], rows[-1]["id"]) if rows else after
        return [composite_from_row(row) for row in rows], last

    async def skill_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Skill], PageCursor | None]:
        """Skills after the serial-id cursor."""
        start = int(after[0]) if after else 0
        rows = await self._page(
            user_id,
            "SELECT * FROM skills WHERE user_id = %s AND id > %s ORDER BY id LIMIT %s",
            (user_id, start, limit),
        )
        return [skill_from_row(row) for row in rows], ((rows[-1]["id"],) if rows else after)

    async def session_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[Session], PageCursor | None]:
        """Sessions after the ``(created_at, session_id)`` cursor."""
        created, session_id = (str(after[0]), str(after[1])) if after else ("", "")
        rows = await self._page(
            user_id,
            "SELECT * FROM sessions WHERE user_id = %s AND (created_at, session_id) > (%s, %s)"
            " ORDER BY created_at, session_id LIMIT %s",
            (user_id, created, session_id, limit),
        )
        last = (rows[-1]["created_at"], rows[-1]["session_id"]) if rows else after
        return [_session(row) for row in rows], last

    async def session_history(
        self, user_id: str, session_id: str
    ) -> tuple[list[Turn], list[Summary]]:
        """Every turn and summary of the session, read in one transaction."""
        async with self._db.tenant(user_id) as conn:
            turns = await fetch_turns(conn, user_id, session_id)
            return turns, await fetch_summaries(conn, user_id, session_id)

    async def usage_log_page(
        self, user_id: str, after: PageCursor | None, limit: int
    ) -> tuple[list[UsageLog], PageCursor | None]:
        """Usage logs after the ``seq`` cursor."""
        start = int(after[0]) if after else 0
        rows = await self._page(
            user_id,
            "SELECT * FROM usage_logs WHERE user_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (user_id, start, limit),
        )
        return [_usage_log(row) for row in rows], ((rows[-1]["seq"],) if rows else after)

    async def id_owners(self, table: OwnedTable, ids: Sequence[str]) -> dict[str, str]:
        """Owners of the ids already taken in ``table`` (system scope: any tenant's id)."""
        if not ids:
            return {}
        column = _OWNED_IDS[table]
        async with self._db.system() as conn:
            rows = await _rows(
                conn,
                f"SELECT {column} AS id, user_id FROM {table} WHERE {column} = ANY(%s)",
                (list(ids),),
            )
        return {row["id"]: row["user_id"] for row in rows}

    async def upsert_imported_records(
        self,
        records: Sequence[MemoryRecord],
        merge: Callable[[MemoryRecord, MemoryRecord], MemoryRecord],
    ) -> list[MemoryRecord]:
        """Save records, merging into stored ones (one transaction per tenant)."""
        written: dict[int, MemoryRecord] = {}
        positions = {id(record): n for n, record in enumerate(records)}
        for user_id, part in _by_user(records).items():
            async with self._db.tenant(user_id) as conn:
                rows = await fetch_by_ids(
                    conn, "memory_records", "record_id", "*", user_id, [r.record_id for r in part]
                )
                stored = {row["record_id"]: record_from_row(row) for row in rows}
                for record in part:
                    current = stored.get(record.record_id)
                    final = merge(current, record) if current is not None else record
                    await save_record(conn, final)
                    written[positions[id(record)]] = final
        return [written[n] for n in sorted(written)]

    async def import_composites(
        self, composites: Sequence[tuple[CompositeRecord, Sequence[str]]]
    ) -> None:
        """Insert or replace composites with their direct members."""
        groups: dict[str, list[tuple[CompositeRecord, Sequence[str]]]] = {}
        for composite, direct in composites:
            groups.setdefault(composite.user_id, []).append((composite, direct))
        for user_id, part in groups.items():
            async with self._db.tenant(user_id) as conn:
                for composite, direct in part:
                    await insert_composite(conn, composite, direct)

    async def import_skills(self, skills: Sequence[Skill]) -> None:
        """Insert or replace skills."""
        for user_id, part in _by_user(skills).items():
            async with self._db.tenant(user_id) as conn:
                for skill in part:
                    await save_skill(conn, skill)

    async def import_sessions(
        self,
        user_id: str,
        sessions: Sequence[SessionImport],
        turns: Sequence[Turn],
        *,
        now: str,
    ) -> SessionImportResult:
        """Sessions, then turns, then watermark clamps, in one transaction."""
        result = SessionImportResult()
        async with self._db.tenant(user_id) as conn:
            for session in sessions:
                await _import_session(conn, user_id, session)
            # sorted, so two imports into the same sessions cannot deadlock on the locks
            for session_id in sorted({turn.session_id for turn in turns}):
                await lock_session(conn, user_id, session_id)
                await ensure_session(conn, user_id, session_id, now)
            for turn in turns:
                if await _import_turn(conn, turn):
                    result.turns_inserted += 1
                else:
                    result.turns_skipped += 1
            result.clamped = [await _clamp_watermark(conn, user_id, s.session_id) for s in sessions]
        return result

    async def import_summaries(
        self, user_id: str, summaries: Sequence[Summary], *, now: str
    ) -> int:
        """Insert the summaries not stored yet."""
        inserted = 0
        async with self._db.tenant(user_id) as conn:
            for summary in summaries:
                await ensure_session(conn, user_id, summary.session_id, now)
                inserted += await _import_summary(conn, summary)
        return inserted

    async def import_usage_logs(self, logs: Sequence[UsageLog]) -> None:
        """Insert complete usage logs."""
        for user_id, part in _by_user(logs).items():
            async with self._db.tenant(user_id) as conn:
                for log in part:
                    await _import_usage_log(conn, log)
