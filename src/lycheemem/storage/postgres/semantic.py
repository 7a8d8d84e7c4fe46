"""The semantic store on PostgreSQL (``domain.ports.SemanticStore``): records, composites and
skills of every tenant, each method one transaction in ``PgDatabase.tenant(user_id)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from lycheemem.domain.models import BatchCommit, CompositeRecord, MemoryRecord, Skill, UsageLog
from lycheemem.domain.ports import CommitResult, FtsHit
from lycheemem.domain.text.terms import COMMON_TERM_SHARE, kept_fts_groups
from lycheemem.storage.postgres import semantic_search as search
from lycheemem.storage.postgres.database import Conn, PgDatabase
from lycheemem.storage.postgres.semantic_rows import (
    COMPOSITE_COLUMNS,
    RECORD_COLUMNS,
    SKILL_COLUMNS,
    composite_from_row,
    fetch_by_ids,
    insert_composite,
    record_from_row,
    save_records,
    save_skill,
    skill_from_row,
)
from lycheemem.storage.postgres.usage import record_retrieval

__all__ = ["PgSemanticStore"]

log = logging.getLogger(__name__)

# Usage-log writes in flight at most; beyond it a write is refused (and counted), never queued
# without bound nor awaited by the search that produced it.
_NOWAIT_LIMIT = 256


async def _session_exists(conn: Conn, user_id: str, session_id: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM sessions WHERE user_id = %s AND session_id = %s FOR SHARE",
        (user_id, session_id),
    )
    return await cur.fetchone() is not None


async def _commit(conn: Conn, batch: BatchCommit) -> CommitResult:
    # FOR SHARE: a concurrent session delete waits for this batch (or this batch sees it gone).
    if not await _session_exists(conn, batch.user_id, batch.session_id):
        return CommitResult([], session_missing=True)
    # One tenant's batches commit one at a time across replicas, as SQLite's single writer
    # does: two sessions' batches updating the same records in different orders would
    # otherwise deadlock (found by bench/replicas.py with two replicas).
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"lycheemem.commit\x1f{batch.user_id}",),
    )
    await save_records(conn, batch.records)
    expired = (
        await search.expire_covering(
            conn, batch.user_id, batch.expire_covering, reason=batch.expire_reason, now=batch.now
        )
        if batch.expire_covering
        else []
    )
    for composite, direct in batch.composites:
        await insert_composite(conn, composite, direct)
    for skill in batch.skills:
        await save_skill(conn, skill)
    await conn.execute(
        "UPDATE sessions SET last_consolidated_turn_index ="
        " GREATEST(last_consolidated_turn_index, %s) WHERE user_id = %s AND session_id = %s",
        (batch.watermark, batch.user_id, batch.session_id),
    )
    return CommitResult(expired)


def _merged(first: list[FtsHit], then: Sequence[str]) -> list[FtsHit]:
    """``first`` followed by the ids of ``then`` it lacks, re-ranked 0.. in that order."""
    ids = list(dict.fromkeys([*(h.item_id for h in first), *then]))
    return [FtsHit(item_id, rank) for rank, item_id in enumerate(ids)]


class PgSemanticStore:
    """Records, composites and skills of every tenant; every method is tenant-scoped.

    Promises what ``SqliteSemanticStore`` does (the contract suites run both); in addition
    ``record_retrieval_nowait`` keeps at most 256 writes in flight and counts the ones it
    refuses in ``dropped_writes``; ``drain`` waits for those in flight.
    """

    def __init__(self, db: PgDatabase, *, nowait_limit: int = _NOWAIT_LIMIT) -> None:
        self.db = db
        self.dropped_writes = 0
        self._nowait_limit = nowait_limit
        self._pending: set[asyncio.Task[None]] = set()

    async def records(self, user_id: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The caller's records with these ids."""
        return (await self.records_with_fts(user_id, ids))[0]

    async def composites(self, user_id: str, ids: Sequence[str]) -> dict[str, CompositeRecord]:
        """The caller's composites with these ids."""
        return (await self.composites_with_fts(user_id, ids))[0]

    async def skills(self, user_id: str, ids: Sequence[str]) -> dict[str, Skill]:
        """The caller's skills with these ids."""
        if not ids:
            return {}
        async with self.db.tenant(user_id) as conn:
            rows = await fetch_by_ids(conn, "skills", "skill_id", SKILL_COLUMNS, user_id, ids)
        return {row["skill_id"]: skill_from_row(row) for row in rows}

    async def covering(self, user_id: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Active composites covering each id."""
        if not ids:
            return {}
        async with self.db.tenant(user_id) as conn:
            return await search.covering_composites(conn, user_id, ids)

    async def fts(
        self,
        user_id: str,
        text: str,
        *,
        table: str,
        limit: int,
        memory_types: Sequence[str] | None = None,
        df: Callable[[str], float] | None = None,
        max_share: float = COMMON_TERM_SHARE,
        crowded: bool = False,
    ) -> list[FtsHit]:
        """Full-text search over the caller's active items of ``table``, best first.

        The same term groups as on SQLite (``df`` above ``max_share`` pruned); a ``crowded``
        query ranks the items matching every group, topped up with the newest matching any.
        A CJK query left short is topped up with items containing its CJK runs verbatim.
        """
        groups = kept_fts_groups(text, df, max_share)
        if not groups or limit <= 0:
            return []
        async with self.db.tenant(user_id) as conn:

            async def run(*, conjunctive: bool = False, newest: bool = False) -> list[FtsHit]:
                return await search.fts_search(
                    conn,
                    table=table,
                    user_id=user_id,
                    groups=groups,
                    limit=limit,
                    memory_types=memory_types,
                    conjunctive=conjunctive,
                    newest_first=newest,
                )

            if not crowded:
                hits = await run()
            else:
                hits = await run(conjunctive=True) if len(groups) > 1 else []
                if len(hits) < limit:
                    newest = await run(newest=True)
                    hits = _merged(hits, [h.item_id for h in newest])[:limit]
            runs = search.cjk_runs(groups)
            if runs and len(hits) < limit:
                extra = await search.like_search(
                    conn,
                    table=table,
                    user_id=user_id,
                    runs=runs,
                    limit=limit - len(hits),
                    exclude=[h.item_id for h in hits],
                    memory_types=memory_types,
                )
                hits = _merged(hits, extra)
        return hits

    async def tags(
        self, user_id: str, wanted: dict[str, Sequence[str]], limit: int
    ) -> list[tuple[str, str, set[str]]]:
        """Tag-channel hits ``(item_id, item_kind, matched tags)``."""
        async with self.db.tenant(user_id) as conn:
            return await search.tag_search(conn, user_id, wanted, limit)

    async def temporal(
        self, user_id: str, since: str, until: str, limit: int
    ) -> list[tuple[str, str]]:
        """Temporal-channel hits ``(item_id, item_kind)``."""
        async with self.db.tenant(user_id) as conn:
            return await search.temporal_search(conn, user_id, since, until, limit)

    async def follow_ups(
        self, user_id: str, session_id: str, after_turn: int, turns: int, limit: int
    ) -> list[str]:
        """Ids of the caller's active records said in the turns right after ``after_turn``."""
        async with self.db.tenant(user_id) as conn:
            return await search.follow_up_ids(conn, user_id, session_id, after_turn, turns, limit)

    async def records_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, MemoryRecord], dict[str, tuple[str, str]]]:
        """The caller's records with these ids and their indexed ``(fts_text, fts_tags)``."""
        if not ids:
            return {}, {}
        async with self.db.tenant(user_id) as conn:
            rows = await fetch_by_ids(
                conn, "memory_records", "record_id", RECORD_COLUMNS, user_id, ids
            )
        return (
            {row["record_id"]: record_from_row(row) for row in rows},
            {row["record_id"]: (row["fts_text"], row["fts_tags"]) for row in rows},
        )

    async def composites_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, CompositeRecord], dict[str, tuple[str, str]]]:
        """The caller's composites with these ids and their indexed ``(fts_text, fts_tags)``."""
        if not ids:
            return {}, {}
        async with self.db.tenant(user_id) as conn:
            rows = await fetch_by_ids(
                conn, "composite_records", "composite_id", COMPOSITE_COLUMNS, user_id, ids
            )
        return (
            {row["composite_id"]: composite_from_row(row) for row in rows},
            {row["composite_id"]: (row["fts_text"], row["fts_tags"]) for row in rows},
        )

    def record_retrieval_nowait(self, log: UsageLog, skill_ids: Sequence[str], now: str) -> bool:
        """Start the usage-log write in the background and return at once; False (counted in
        ``dropped_writes``) when no event loop runs or too many writes are in flight."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.dropped_writes += 1
            return False
        if len(self._pending) >= self._nowait_limit:
            self.dropped_writes += 1
            return False
        task = loop.create_task(self._record_retrieval(log, list(skill_ids), now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return True

    async def _record_retrieval(self, entry: UsageLog, skill_ids: list[str], now: str) -> None:
        try:
            async with self.db.tenant(entry.user_id) as conn:
                await record_retrieval(conn, entry, skill_ids, now)
        except Exception as error:  # a background write has no caller to raise to
            self.dropped_writes += 1
            log.error("usage log write failed: %r", error)

    @property
    def queue_depth(self) -> int:
        """Usage-log writes started and not yet finished."""
        return len(self._pending)

    async def drain(self) -> None:
        """Wait until every usage-log write started so far has finished."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def skipped_turns(self, user_id: str, *, limit: int = 10) -> dict[str, object]:
        """``{count, recent}``: how many turns were skipped and the latest ``limit`` of them."""
        async with self.db.tenant(user_id) as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM consolidation_skips WHERE user_id = %s", (user_id,)
            )
            total = await cur.fetchone()
            cur = await conn.execute(
                "SELECT session_id, turn_index, job_id, error, created_at FROM consolidation_skips"
                " WHERE user_id = %s ORDER BY created_at DESC, turn_index DESC LIMIT %s",
                (user_id, limit),
            )
            rows = await cur.fetchall()
        return {"count": int(total["n"]) if total else 0, "recent": [dict(row) for row in rows]}

    async def term_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """Active record count and per-term document frequency in the caller's memory (read
        fresh: no cache that another replica's writes could leave stale)."""
        async with self.db.tenant(user_id) as conn:
            return await search.term_counts(conn, user_id, terms)

    async def commit_batch(self, batch: BatchCommit) -> CommitResult:
        """Write one consolidation batch atomically (nothing if the session is gone)."""
        async with self.db.tenant(batch.user_id) as conn:
            return await _commit(conn, batch)

    async def skip_turn(
        self, *, user_id: str, session_id: str, turn_index: int, job_id: str, error: str, now: str
    ) -> None:
        """Record that consolidation gave up on one turn and move the watermark past it."""
        async with self.db.tenant(user_id) as conn:
            if not await _session_exists(conn, user_id, session_id):
                return
            await conn.execute(
                "INSERT INTO consolidation_skips (user_id, session_id, turn_index, job_id, error,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (user_id, session_id, turn_index) DO UPDATE SET"
                " job_id = EXCLUDED.job_id, error = EXCLUDED.error,"
                " created_at = EXCLUDED.created_at",
                (user_id, session_id, turn_index, job_id, error[:500], now),
            )
            await conn.execute(
                "UPDATE sessions SET last_consolidated_turn_index ="
                " GREATEST(last_consolidated_turn_index, %s) WHERE user_id = %s"
                " AND session_id = %s",
                (turn_index + 1, user_id, session_id),
            )

    async def mark_indexed(
        self, *, record_ids: Sequence[str], composite_ids: Sequence[str], skill_ids: Sequence[str]
    ) -> None:
        """Flag rows whose vectors are now in the vector index.

        The port names no tenant, so this runs in the system scope; it only sets a flag on
        the rows whose (globally unique) ids it is given.
        """
        async with self.db.system() as conn:
            for table, column, ids in (
                ("memory_records", "record_id", record_ids),
                ("composite_records", "composite_id", composite_ids),
                ("skills", "skill_id", skill_ids),
            ):
                if ids:
                    await conn.execute(
                        f"UPDATE {table} SET indexed = true WHERE {column} = ANY(%s)",
                        (list(ids),),
                    )
