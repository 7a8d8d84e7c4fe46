"""Recall queries over the semantic tables: full text, tags, time windows, follow-ups and the
corpus statistics the scorer needs.

Plain functions of a ``sqlite3.Connection`` (the rows they return are read by ``records``);
every statement filters on ``user_id`` (FTS matches also on ``fts_owner``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from lycheemem.domain.ports import FtsHit
from lycheemem.domain.text.terms import fts_owner
from lycheemem.storage.sqlite.records import chunks, placeholders

__all__ = [
    "active_record_count",
    "follow_up_ids",
    "fts_search",
    "record_row_count",
    "tag_search",
    "temporal_search",
    "term_document_counts",
    "term_stats",
]

# Ranked FTS rows checked per wanted hit in the first batch (later batches grow 4x).
_FTS_BATCH = 2
_FTS_TYPED_BATCH = 8


def fts_search(
    conn: sqlite3.Connection,
    *,
    table: str,
    user_id: str,
    match: str,
    limit: int,
    memory_types: Sequence[str] | None = None,
    newest_first: bool = False,
) -> list[FtsHit]:
    """Active items of ``table`` matching the FTS expression, best BM25 first.

    ``newest_first`` returns the newest matches instead: FTS5 walks the match list
    backwards and stops at ``limit``, where BM25 would have to score every match.

    BM25 ties keep FTS5's rowid order. FTS5 ranks every match without touching the
    item rows; rows are then read in rank order, a batch at a time, only until ``limit``
    of them pass the tenant / expiry / type filter. (Joining first read the wide row of
    every match: tens of thousands for common terms.) The result equals filtering every
    match before ranking.
    """
    if limit <= 0:
        return []
    id_column = "record_id" if table == "memory_records" else "composite_id"
    order = "rowid DESC" if newest_first else f"bm25({table}_fts, 1.0, 0.5, 0.0), rowid"
    ranked = conn.execute(
        f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ? ORDER BY {order}", (match,)
    )
    # Type-filtered searches keep few of the best matches, so they start with a wider batch.
    batch = limit * (_FTS_TYPED_BATCH if memory_types else _FTS_BATCH)
    hits: list[str] = []
    try:
        while len(hits) < limit:
            rowids = [row[0] for row in ranked.fetchmany(batch)]
            if not rowids:
                break
            hits += _passing_ids(conn, table, id_column, user_id, rowids, memory_types)
            batch *= 4
    finally:
        ranked.close()
    return [FtsHit(item_id, rank) for rank, item_id in enumerate(hits[:limit])]


def _passing_ids(
    conn: sqlite3.Connection,
    table: str,
    id_column: str,
    user_id: str,
    rowids: Sequence[int],
    memory_types: Sequence[str] | None,
) -> list[str]:
    """Item ids of the ``rowids`` that are the caller's, active and of a wanted type, in order.

    The unary ``+`` keeps each filter but makes the planner probe by rowid instead of
    walking the tenant's ``(user_id, expired, memory_type)`` index.
    """
    found: dict[int, str] = {}
    for part in chunks(list(rowids)):
        sql = (
            f"SELECT id, {id_column} FROM {table} WHERE id IN ({placeholders(len(part))})"
            " AND +user_id = ? AND +expired = 0"
        )
        params: list[Any] = [*part, user_id]
        if memory_types:
            sql += f" AND +memory_type IN ({placeholders(len(memory_types))})"
            params.extend(memory_types)
        found.update(conn.execute(sql, params).fetchall())
    return [found[rowid] for rowid in rowids if rowid in found]


def _tag_count(conn: sqlite3.Connection, user_id: str, kind: str, tag: str, cap: int) -> int:
    """Items carrying the tag, counted no further than ``cap`` (enough to compare with it)."""
    return conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM memory_tags"
        " WHERE user_id = ? AND tag_kind = ? AND tag = ? LIMIT ?)",
        (user_id, kind, tag, cap),
    ).fetchone()[0]


def tag_search(
    conn: sqlite3.Connection,
    user_id: str,
    wanted: dict[str, Sequence[str]],
    limit: int,
    max_per_tag: int = 200,
) -> list[tuple[str, str, set[str]]]:
    """Active items whose tags equal any wanted value, ranked by the number of kinds matched.

    ``wanted`` maps a tag kind (tool, constraint, affordance, entity, ...) to
    values; returns ``(item_id, item_kind, matched values)``. A tag carried by more than
    ``max_per_tag`` items says little about relevance and would make the grouping slow,
    so it is skipped (the other channels still see those items).
    """
    clauses: list[str] = []
    params: list[Any] = [user_id]
    for kind, values in wanted.items():
        clean = sorted({" ".join(v.casefold().split()) for v in values if v.strip()})
        clean = [
            tag
            for tag in clean
            if _tag_count(conn, user_id, kind, tag, max_per_tag + 1) <= max_per_tag
        ]
        if clean:
            clauses.append(f"(tag_kind = ? AND tag IN ({placeholders(len(clean))}))")
            params.extend([kind, *clean])
    if not clauses:
        return []
    rows = conn.execute(
        "SELECT item_id, item_kind, group_concat(tag, char(31)) AS tags,"
        " COUNT(DISTINCT tag_kind) AS kinds FROM memory_tags"
        f" WHERE user_id = ? AND ({' OR '.join(clauses)})"
        " GROUP BY item_id, item_kind ORDER BY kinds DESC, COUNT(*) DESC LIMIT ?",
        (*params, limit * 2),
    ).fetchall()
    hits = [(row["item_id"], row["item_kind"], set(row["tags"].split("\x1f"))) for row in rows]
    return _active_only(conn, user_id, hits)[:limit]


def _active_only(
    conn: sqlite3.Connection, user_id: str, hits: list[tuple[str, str, set[str]]]
) -> list[tuple[str, str, set[str]]]:
    records = [h[0] for h in hits if h[1] == "record"]
    composites = [h[0] for h in hits if h[1] == "composite"]
    active: set[str] = set()
    for table, column, ids in (
        ("memory_records", "record_id", records),
        ("composite_records", "composite_id", composites),
    ):
        for part in chunks(ids):
            rows = conn.execute(
                f"SELECT {column} FROM {table} WHERE {column} IN ({placeholders(len(part))})"
                " AND +user_id = ? AND expired = 0",
                (*part, user_id),
            ).fetchall()
            active.update(row[0] for row in rows)
    return [h for h in hits if h[0] in active]


def temporal_search(
    conn: sqlite3.Connection, user_id: str, since: str, until: str, limit: int
) -> list[tuple[str, str]]:
    """Active items whose event interval (else ``created_at``) overlaps [since, until].

    Latest event first, then items without an event time, newest first. Each of the three
    queries reads one index range (migration 0004): events starting in the window (from the
    start of ``since``'s day, for a window that opens mid-day), multi-day intervals that
    started before and reach into it, and undated items created in it.
    """
    day = since[:10]
    found: list[tuple[str, str]] = []
    for table, column, kind in (
        ("memory_records", "record_id", "record"),
        ("composite_records", "composite_id", "composite"),
    ):
        active = f"SELECT {column}, event_start FROM {table} WHERE user_id = ? AND +expired = 0"
        starting = conn.execute(
            f"{active} AND event_start BETWEEN ? AND ? AND COALESCE(event_end, event_start) >= ?"
            " ORDER BY event_start DESC LIMIT ?",
            (user_id, day, until, since, limit),
        ).fetchall()
        spanning = conn.execute(
            f"{active} AND event_end >= ? AND event_start < ?"
            " AND substr(event_end, 1, 10) != substr(event_start, 1, 10)"
            " ORDER BY event_start DESC LIMIT ?",
            (user_id, since, day, limit),
        ).fetchall()
        unique = {row[0]: row for row in [*starting, *spanning]}
        events = sorted(unique.values(), key=lambda row: row[1], reverse=True)
        undated = conn.execute(
            f"SELECT {column} FROM {table} WHERE user_id = ? AND +expired = 0"
            " AND event_start IS NULL AND created_at BETWEEN ? AND ?"
            " ORDER BY created_at DESC LIMIT ?",
            (user_id, since, until, limit),
        ).fetchall()
        found.extend((row[0], kind) for row in [*events, *undated][:limit])
    return found[:limit]


def follow_up_ids(
    conn: sqlite3.Connection, user_id: str, session_id: str, after_turn: int, turns: int, limit: int
) -> list[str]:
    """Active records first said in the ``turns`` turns after ``after_turn`` of a session.

    In turn order (index ``memory_records_by_turn``).
    """
    rows = conn.execute(
        "SELECT record_id FROM memory_records WHERE user_id = ? AND source_session_id = ?"
        " AND json_extract(source_turn_ids, '$[0]') BETWEEN ? AND ? AND +expired = 0"
        " ORDER BY json_extract(source_turn_ids, '$[0]'), id LIMIT ?",
        (user_id, session_id, after_turn + 1, after_turn + turns, limit),
    ).fetchall()
    return [row[0] for row in rows]


def term_stats(
    conn: sqlite3.Connection, user_id: str, terms: Sequence[str]
) -> tuple[int, dict[str, int]]:
    """The caller's active record count and, per term, how many records contain it."""
    return active_record_count(conn, user_id), term_document_counts(conn, user_id, terms)


def record_row_count(conn: sqlite3.Connection) -> int:
    """How many record rows the table holds, every tenant and expired ones included."""
    return int(conn.execute("SELECT COUNT(*) FROM memory_records").fetchone()[0])


def active_record_count(conn: sqlite3.Connection, user_id: str) -> int:
    """How many active records the caller has."""
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM memory_records WHERE user_id = ? AND expired = 0", (user_id,)
        ).fetchone()[0]
    )


def term_document_counts(
    conn: sqlite3.Connection, user_id: str, terms: Sequence[str]
) -> dict[str, int]:
    """Per term, how many of the caller's records (expired included) contain it."""
    owner = fts_owner(user_id)
    freqs: dict[str, int] = {}
    for term in terms:
        quoted = '"' + term.replace('"', '""') + '"'
        freqs[term] = conn.execute(
            "SELECT COUNT(*) FROM memory_records_fts WHERE memory_records_fts MATCH ?",
            (f'fts_owner : "{owner}" AND {quoted}',),
        ).fetchone()[0]
    return freqs
