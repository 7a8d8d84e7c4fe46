"""The semantic store: async access to records, composites and skills for the pipeline."""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lycheemem.domain.models import BatchCommit, CompositeRecord, MemoryRecord, Skill, UsageLog
from lycheemem.domain.ports import CommitResult
from lycheemem.domain.text.terms import COMMON_TERM_SHARE, build_fts_query, fts_owner
from lycheemem.storage.sqlite import record_search
from lycheemem.storage.sqlite import records as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.skills import fetch_skills, save_skill
from lycheemem.storage.sqlite.usage import record_retrieval

__all__ = ["CommitResult", "SqliteSemanticStore", "TermStatsCache"]

# A backstop for writes this process cannot see (another process on the same file).
_STATS_TTL_S = 60.0
_STATS_MAX_TENANTS = 256
_STATS_MAX_TERMS = 4096
# A tenant owning at least this share of the records table searches FTS without the owner term.
_UNSCOPED_FTS_SHARE = 0.5


def _commit(conn: sqlite3.Connection, batch: BatchCommit) -> CommitResult:
    exists = conn.execute(
        "SELECT 1 FROM sessions WHERE user_id = ? AND session_id = ?",
        (batch.user_id, batch.session_id),
    ).fetchone()
    if exists is None:
        return CommitResult([], session_missing=True)
    for record in batch.records:
        sql.save_record(conn, record)
    expired = (
        sql.expire_covering(
            conn, batch.user_id, batch.expire_covering, reason=batch.expire_reason, now=batch.now
        )
        if batch.expire_covering
        else []
    )
    for composite, direct in batch.composites:
        sql.insert_composite(conn, composite, direct)
    for skill in batch.skills:
        save_skill(conn, skill)
    conn.execute(
        "UPDATE sessions SET last_consolidated_turn_index = MAX(last_consolidated_turn_index, ?)"
        " WHERE user_id = ? AND session_id = ?",
        (batch.watermark, batch.user_id, batch.session_id),
    )
    return CommitResult(expired)


def _skip_turn(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    session_id: str,
    turn_index: int,
    job_id: str,
    error: str,
    now: str,
) -> None:
    exists = conn.execute(
        "SELECT 1 FROM sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    ).fetchone()
    if exists is None:
        return
    conn.execute(
        "INSERT INTO consolidation_skips (user_id, session_id, turn_index, job_id, error,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, session_id, turn_index)"
        " DO UPDATE SET job_id = excluded.job_id, error = excluded.error,"
        " created_at = excluded.created_at",
        (user_id, session_id, turn_index, job_id, error[:500], now),
    )
    conn.execute(
        "UPDATE sessions SET last_consolidated_turn_index = MAX(last_consolidated_turn_index, ?)"
        " WHERE user_id = ? AND session_id = ?",
        (turn_index + 1, user_id, session_id),
    )


def _skipped_turns(conn: sqlite3.Connection, user_id: str, limit: int) -> dict[str, object]:
    total = conn.execute(
        "SELECT COUNT(*) FROM consolidation_skips WHERE user_id = ?", (user_id,)
    ).fetchone()[0]
    rows = conn.execute(
        "SELECT session_id, turn_index, job_id, error, created_at FROM consolidation_skips"
        " WHERE user_id = ? ORDER BY created_at DESC, turn_index DESC LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return {"count": int(total), "recent": [dict(row) for row in rows]}


def _mark_indexed(conn: sqlite3.Connection, table: str, column: str, ids: Sequence[str]) -> None:
    for part in sql.chunks(list(ids)):
        conn.execute(
            f"UPDATE {table} SET indexed = 1 WHERE {column} IN ({sql.placeholders(len(part))})",
            tuple(part),
        )


@dataclass(slots=True)
class _TenantStats:
    generation: int
    loaded_at: float
    total: int | None = None
    counts: dict[str, int] = field(default_factory=dict)


class TermStatsCache:
    """Per-tenant active-record totals and term document counts, reused between searches.

    Promises: an entry is served only while ``Database.generation`` is unchanged since it
    was read (any content write invalidates every tenant) and for at most ``ttl_s``
    seconds; counts are always the tenant's own. Bounded to ``max_tenants`` tenants
    (least recently used dropped) and ``max_terms`` terms each.
    """

    def __init__(
        self,
        *,
        ttl_s: float = _STATS_TTL_S,
        max_tenants: int = _STATS_MAX_TENANTS,
        max_terms: int = _STATS_MAX_TERMS,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_tenants = max_tenants
        self.max_terms = max_terms
        self._tenants: OrderedDict[str, _TenantStats] = OrderedDict()
        self._table: tuple[int, float, int] | None = None

    def lookup(
        self, user_id: str, generation: int, terms: Sequence[str]
    ) -> tuple[int | None, dict[str, int]]:
        """The cached total (None if unknown) and the cached counts among ``terms``."""
        entry = self._current(user_id, generation)
        if entry is None:
            return None, {}
        self._tenants.move_to_end(user_id)
        return entry.total, {t: entry.counts[t] for t in terms if t in entry.counts}

    def store(
        self, user_id: str, generation: int, total: int | None, counts: dict[str, int]
    ) -> None:
        """Remember values read while ``generation`` was current (and still is)."""
        entry = self._current(user_id, generation)
        if entry is None:
            entry = _TenantStats(generation, time.monotonic())
            self._tenants[user_id] = entry
        if total is not None:
            entry.total = total
        if len(entry.counts) + len(counts) > self.max_terms:
            entry.counts.clear()
        entry.counts.update(counts)
        self._tenants.move_to_end(user_id)
        while len(self._tenants) > self.max_tenants:
            self._tenants.popitem(last=False)

    def table_rows(self, generation: int) -> int | None:
        """The cached row count of the whole records table, or None if unknown or stale."""
        cached = self._table
        if cached is None or cached[0] != generation:
            return None
        if time.monotonic() - cached[1] > self.ttl_s:
            return None
        return cached[2]

    def store_table_rows(self, generation: int, rows: int) -> None:
        """Remember the records table's row count read while ``generation`` was current."""
        self._table = (generation, time.monotonic(), rows)

    def tenant_share(self, user_id: str, generation: int) -> float | None:
        """The tenant's share of the records table from cached counts; None if unknown."""
        entry = self._current(user_id, generation)
        rows = self.table_rows(generation)
        if entry is None or entry.total is None or not rows:
            return None
        return entry.total / rows

    def _current(self, user_id: str, generation: int) -> _TenantStats | None:
        entry = self._tenants.get(user_id)
        if entry is None:
            return None
        if entry.generation != generation or time.monotonic() - entry.loaded_at > self.ttl_s:
            del self._tenants[user_id]
            return None
        return entry


class SqliteSemanticStore:
    """Records, composites and skills of every tenant; every method is tenant-scoped."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.term_cache = TermStatsCache()

    async def records(self, user_id: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The caller's records with these ids."""
        if not ids:
            return {}
        return await self.db.read(lambda conn: sql.fetch_records(conn, user_id, ids))

    async def composites(self, user_id: str, ids: Sequence[str]) -> dict[str, CompositeRecord]:
        """The caller's composites with these ids."""
        if not ids:
            return {}
        return await self.db.read(lambda conn: sql.fetch_composites(conn, user_id, ids))

    async def skills(self, user_id: str, ids: Sequence[str]) -> dict[str, Skill]:
        """The caller's skills with these ids."""
        if not ids:
            return {}
        return await self.db.read(lambda conn: fetch_skills(conn, user_id, ids))

    async def covering(self, user_id: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Active composites covering each id."""
        if not ids:
            return {}
        return await self.db.read(lambda conn: sql.covering_composites(conn, user_id, ids))

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
    ) -> list[sql.FtsHit]:
        """Full-text search over the caller's active items of ``table``.

        ``df`` (term → fraction of the caller's records containing it) drops terms above
        ``max_share`` from the query, which keeps FTS fast on large memories. A
        ``crowded`` query (its terms match thousands of records) is answered by the BM25
        ranking of the records matching every term, topped up with the newest records
        matching any of them: both cost what they return, not what the terms match.
        """
        owner = fts_owner(user_id) if self._scope_by_owner(user_id) else None
        match = build_fts_query(text, owner, df=df, max_share=max_share)
        if match is None or limit <= 0:
            return []
        every = (
            build_fts_query(text, owner, df=df, max_share=max_share, conjunctive=True)
            if crowded
            else None
        )

        def search(conn: sqlite3.Connection) -> list[sql.FtsHit]:
            def run(expression: str, newest_first: bool = False) -> list[sql.FtsHit]:
                return record_search.fts_search(
                    conn,
                    table=table,
                    user_id=user_id,
                    match=expression,
                    limit=limit,
                    memory_types=memory_types,
                    newest_first=newest_first,
                )

            if not crowded:
                return run(match)
            hits = run(every) if every is not None and every != match else []
            if len(hits) < limit:
                hits = _merged(hits, run(match, newest_first=True))[:limit]
            return hits

        return await self.db.read(search)

    def _scope_by_owner(self, user_id: str) -> bool:
        """Whether the MATCH expression should carry the owner token.

        The owner term makes FTS5 walk the tenant's whole posting list, which costs more than
        it saves when the tenant owns most of the table (one big tenant: 5 ms of a 5.2 ms query
        at 100k records). Without it, ``fts_search`` still keeps only the tenant's rows; it
        just ranks other tenants' matches too, which is cheap when they are few. Unknown
        counts keep the owner term.
        """
        share = self.term_cache.tenant_share(user_id, self.db.generation)
        return share is None or share < _UNSCOPED_FTS_SHARE

    async def tags(
        self, user_id: str, wanted: dict[str, Sequence[str]], limit: int
    ) -> list[tuple[str, str, set[str]]]:
        """Tag-channel hits ``(item_id, item_kind, matched tags)``."""
        return await self.db.read(
            lambda conn: record_search.tag_search(conn, user_id, wanted, limit)
        )

    async def temporal(
        self, user_id: str, since: str, until: str, limit: int
    ) -> list[tuple[str, str]]:
        """Temporal-channel hits ``(item_id, item_kind)``."""
        return await self.db.read(
            lambda conn: record_search.temporal_search(conn, user_id, since, until, limit)
        )

    async def follow_ups(
        self, user_id: str, session_id: str, after_turn: int, turns: int, limit: int
    ) -> list[str]:
        """Ids of the caller's active records said in the turns right after ``after_turn``."""
        return await self.db.read(
            lambda conn: record_search.follow_up_ids(
                conn, user_id, session_id, after_turn, turns, limit
            )
        )

    async def records_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, MemoryRecord], dict[str, tuple[str, str]]]:
        """The caller's records with these ids and their indexed ``(fts_text, fts_tags)``."""
        if not ids:
            return {}, {}
        return await self.db.read(lambda conn: sql.fetch_records_with_fts(conn, user_id, ids))

    async def composites_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, CompositeRecord], dict[str, tuple[str, str]]]:
        """The caller's composites with these ids and their indexed ``(fts_text, fts_tags)``."""
        if not ids:
            return {}, {}
        return await self.db.read(lambda conn: sql.fetch_composites_with_fts(conn, user_id, ids))

    def record_retrieval_nowait(self, log: UsageLog, skill_ids: Sequence[str], now: str) -> bool:
        """Queue the usage log and counter updates on the writer (not awaited)."""
        return self.db.write_nowait(
            lambda conn: record_retrieval(conn, log, skill_ids, now), touches_memory=False
        )

    async def term_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """Active record count and per-term document frequency in the caller's memory.

        Served from :class:`TermStatsCache` where possible: unchanged since the last
        content write (and younger than its TTL), so equal to a fresh count.
        """
        generation = self.db.generation
        total, counts = self.term_cache.lookup(user_id, generation, terms)
        missing = [term for term in dict.fromkeys(terms) if term not in counts]
        table_rows = self.term_cache.table_rows(generation)
        if total is not None and not missing and table_rows is not None:
            return total, {term: counts[term] for term in terms}

        def read(conn: sqlite3.Connection) -> tuple[int, dict[str, int], int]:
            fresh_total = (
                record_search.active_record_count(conn, user_id) if total is None else total
            )
            rows = record_search.record_row_count(conn) if table_rows is None else table_rows
            return fresh_total, record_search.term_document_counts(conn, user_id, missing), rows

        fresh_total, fresh, rows = await self.db.read(read)
        if self.db.generation == generation:
            self.term_cache.store(user_id, generation, fresh_total, fresh)
            self.term_cache.store_table_rows(generation, rows)
        counts.update(fresh)
        return fresh_total, {term: counts[term] for term in terms}

    async def commit_batch(self, batch: BatchCommit) -> CommitResult:
        """Write one consolidation batch atomically (nothing if the session is gone)."""
        return await self.db.write(lambda conn: _commit(conn, batch))

    async def skip_turn(
        self, *, user_id: str, session_id: str, turn_index: int, job_id: str, error: str, now: str
    ) -> None:
        """Record that consolidation gave up on one turn and move the watermark past it."""
        await self.db.write(
            lambda conn: _skip_turn(
                conn,
                user_id=user_id,
                session_id=session_id,
                turn_index=turn_index,
                job_id=job_id,
                error=error,
                now=now,
            ),
            touches_memory=False,
        )

    async def skipped_turns(self, user_id: str, *, limit: int = 10) -> dict[str, object]:
        """``{count, recent}``: how many turns were skipped and the latest ``limit`` of them."""
        return await self.db.read(lambda conn: _skipped_turns(conn, user_id, limit))

    async def mark_indexed(
        self, *, record_ids: Sequence[str], composite_ids: Sequence[str], skill_ids: Sequence[str]
    ) -> None:
        """Flag rows whose vectors are now in LanceDB."""

        def write(conn: sqlite3.Connection) -> None:
            _mark_indexed(conn, "memory_records", "record_id", record_ids)
            _mark_indexed(conn, "composite_records", "composite_id", composite_ids)
            _mark_indexed(conn, "skills", "skill_id", skill_ids)

        await self.db.write(write)


def _merged(first: list[sql.FtsHit], then: list[sql.FtsHit]) -> list[sql.FtsHit]:
    """``first`` followed by the hits of ``then`` it lacks, re-ranked 0.. in that order."""
    ids = list(dict.fromkeys([*(h.item_id for h in first), *(h.item_id for h in then)]))
    return [sql.FtsHit(item_id, rank) for rank, item_id in enumerate(ids)]
