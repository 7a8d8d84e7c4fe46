"""Semantic memory tables: records, composites, members, tags, item sessions, FTS.

SQL lives in plain functions of a ``sqlite3.Connection`` so the consolidation
engine can compose one batch into one transaction. Every statement filters
on ``user_id`` (FTS matches also on ``fts_owner``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SourceRef, Temporal
from lycheemem.domain.ports import FtsHit
from lycheemem.domain.text.dates import temporal_bounds
from lycheemem.domain.text.terms import fts_document, fts_owner
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = [
    "TAG_COLUMNS",
    "FtsHit",
    "active_record_count",
    "covering_composites",
    "delete_items",
    "event_bounds",
    "fetch_composites",
    "fetch_records",
    "fts_search",
    "insert_composite",
    "save_record",
    "term_document_counts",
]

TAG_COLUMNS = ("task_tags", "tool_tags", "constraint_tags", "failure_tags", "affordance_tags")
_TAG_KIND = {
    "task_tags": "task",
    "tool_tags": "tool",
    "constraint_tags": "constraint",
    "failure_tags": "failure",
    "affordance_tags": "affordance",
}
_CHUNK = 500
# Ranked FTS rows checked per wanted hit in the first batch (later batches grow 4x).
_FTS_BATCH = 2
_FTS_TYPED_BATCH = 8

_RECORD_COLUMNS = (
    "record_id",
    "user_id",
    "memory_type",
    "semantic_text",
    "normalized_text",
    "entities",
    "t_ref",
    "t_valid_from",
    "t_valid_to",
    *TAG_COLUMNS,
    "confidence",
    "source_role",
    "source_session_id",
    "source_turn_ids",
    "source_turn_refs",
    "sources",
    "version",
    "history",
    "created_at",
    "updated_at",
    "retrieval_count",
    "retrieval_hit_count",
    "action_success_count",
    "action_fail_count",
    "last_retrieved_at",
    "expired",
    "expired_at",
    "expired_reason",
    "superseded_by",
    "event_start",
    "event_end",
    "fts_text",
    "fts_tags",
    "fts_owner",
    "indexed",
)
_COMPOSITE_COLUMNS = (
    "composite_id",
    "user_id",
    "memory_type",
    "semantic_text",
    "normalized_text",
    "source_record_ids",
    "child_composite_ids",
    "level",
    "synthesis_reason",
    "entities",
    "t_ref",
    "t_valid_from",
    "t_valid_to",
    *TAG_COLUMNS,
    "confidence",
    "sources",
    "created_at",
    "updated_at",
    "retrieval_count",
    "retrieval_hit_count",
    "action_success_count",
    "action_fail_count",
    "last_retrieved_at",
    "expired",
    "expired_at",
    "expired_reason",
    "event_start",
    "event_end",
    "fts_text",
    "fts_tags",
    "fts_owner",
    "indexed",
)


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """Split ``values`` into slices small enough for one ``IN (...)`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def placeholders(count: int) -> str:
    """``?, ?, ?`` for ``count`` bound parameters."""
    return ", ".join("?" * count)


def _sources_to_json(sources: Sequence[SourceRef]) -> str:
    return dump_json([source.as_dict() for source in sources])


def _sources_from_json(text: str) -> list[SourceRef]:
    return [
        SourceRef(s["session_id"], list(s.get("turn_ids", [])), list(s.get("turn_refs", [])))
        for s in load_json(text, [])
    ]


def _bound(value: str | None, *, end: bool) -> str | None:
    if not value:
        return None
    if "T" in value and "/" not in value:
        return value
    bounds = temporal_bounds(value)
    if bounds is None:
        return None
    day = bounds[1] if end else bounds[0]
    return f"{day.isoformat()}T23:59:59.999Z" if end else f"{day.isoformat()}T00:00:00.000Z"


def event_bounds(temporal: Temporal, created_at: str) -> tuple[str | None, str | None]:
    """``event_start/end``: the validity interval, else the span of ``t_ref`` (day or range)."""
    start = _bound(temporal.t_valid_from or temporal.t_ref, end=False)
    end = _bound(temporal.t_valid_to or temporal.t_ref, end=True)
    return start, end


def _tags_text(item: MemoryRecord | CompositeRecord) -> str:
    values: list[str] = []
    for column in TAG_COLUMNS:
        values.extend(getattr(item, column))
    return fts_document(" ".join(values))


def _fts_text(item: MemoryRecord | CompositeRecord) -> str:
    return fts_document(item.semantic_text, item.normalized_text, " ".join(item.entities))


def _record_values(record: MemoryRecord) -> tuple[Any, ...]:
    start, end = event_bounds(record.temporal, record.created_at)
    t = record.temporal
    return (
        record.record_id,
        record.user_id,
        record.memory_type,
        record.semantic_text,
        record.normalized_text,
        dump_json(record.entities),
        t.t_ref,
        t.t_valid_from,
        t.t_valid_to,
        *(dump_json(getattr(record, c)) for c in TAG_COLUMNS),
        record.confidence,
        record.source_role,
        record.source_session_id,
        dump_json(record.source_turn_ids),
        dump_json(record.source_turn_refs),
        _sources_to_json(record.sources),
        record.version,
        dump_json(record.history),
        record.created_at,
        record.updated_at,
        record.retrieval_count,
        record.retrieval_hit_count,
        record.action_success_count,
        record.action_fail_count,
        record.last_retrieved_at,
        int(record.expired),
        record.expired_at,
        record.expired_reason,
        record.superseded_by,
        start,
        end,
        _fts_text(record),
        _tags_text(record),
        fts_owner(record.user_id),
        0,
    )


def _composite_values(composite: CompositeRecord) -> tuple[Any, ...]:
    start, end = event_bounds(composite.temporal, composite.created_at)
    t = composite.temporal
    return (
        composite.composite_id,
        composite.user_id,
        composite.memory_type,
        composite.semantic_text,
        composite.normalized_text,
        dump_json(composite.source_record_ids),
        dump_json(composite.child_composite_ids),
        composite.level,
        composite.synthesis_reason,
        dump_json(composite.entities),
        t.t_ref,
        t.t_valid_from,
        t.t_valid_to,
        *(dump_json(getattr(composite, c)) for c in TAG_COLUMNS),
        composite.confidence,
        _sources_to_json(composite.sources),
        composite.created_at,
        composite.updated_at,
        composite.retrieval_count,
        composite.retrieval_hit_count,
        composite.action_success_count,
        composite.action_fail_count,
        composite.last_retrieved_at,
        int(composite.expired),
        composite.expired_at,
        composite.expired_reason,
        start,
        end,
        _fts_text(composite),
        _tags_text(composite),
        fts_owner(composite.user_id),
        0,
    )


def record_from_row(row: sqlite3.Row) -> MemoryRecord:
    """Rebuild a ``MemoryRecord`` from its row."""
    return MemoryRecord(
        record_id=row["record_id"],
        user_id=row["user_id"],
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        normalized_text=row["normalized_text"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        entities=load_json(row["entities"], []),
        temporal=Temporal(row["t_ref"], row["t_valid_from"], row["t_valid_to"]),
        **{c: load_json(row[c], []) for c in TAG_COLUMNS},
        confidence=row["confidence"],
        source_role=row["source_role"],
        source_session_id=row["source_session_id"],
        source_turn_ids=load_json(row["source_turn_ids"], []),
        source_turn_refs=load_json(row["source_turn_refs"], []),
        sources=_sources_from_json(row["sources"]),
        version=row["version"],
        history=load_json(row["history"], []),
        retrieval_count=row["retrieval_count"],
        retrieval_hit_count=row["retrieval_hit_count"],
        action_success_count=row["action_success_count"],
        action_fail_count=row["action_fail_count"],
        last_retrieved_at=row["last_retrieved_at"],
        expired=bool(row["expired"]),
        expired_at=row["expired_at"],
        expired_reason=row["expired_reason"],
        superseded_by=row["superseded_by"],
    )


def composite_from_row(row: sqlite3.Row) -> CompositeRecord:
    """Rebuild a ``CompositeRecord`` from its row."""
    return CompositeRecord(
        composite_id=row["composite_id"],
        user_id=row["user_id"],
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        normalized_text=row["normalized_text"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        source_record_ids=load_json(row["source_record_ids"], []),
        child_composite_ids=load_json(row["child_composite_ids"], []),
        level=row["level"],
        synthesis_reason=row["synthesis_reason"],
        entities=load_json(row["entities"], []),
        temporal=Temporal(row["t_ref"], row["t_valid_from"], row["t_valid_to"]),
        **{c: load_json(row[c], []) for c in TAG_COLUMNS},
        confidence=row["confidence"],
        sources=_sources_from_json(row["sources"]),
        retrieval_count=row["retrieval_count"],
        retrieval_hit_count=row["retrieval_hit_count"],
        action_success_count=row["action_success_count"],
        action_fail_count=row["action_fail_count"],
        last_retrieved_at=row["last_retrieved_at"],
        expired=bool(row["expired"]),
        expired_at=row["expired_at"],
        expired_reason=row["expired_reason"],
    )


def _write_tags(conn: sqlite3.Connection, item: MemoryRecord | CompositeRecord, kind: str) -> None:
    conn.execute("DELETE FROM memory_tags WHERE item_id = ?", (item.item_id,))
    rows = set()
    for column in TAG_COLUMNS:
        for tag in getattr(item, column):
            value = " ".join(tag.casefold().split())
            if value:
                rows.add((item.user_id, item.item_id, kind, _TAG_KIND[column], value))
    for entity in item.entities:
        value = " ".join(entity.casefold().split())
        if value:
            rows.add((item.user_id, item.item_id, kind, "entity", value))
    conn.executemany("INSERT OR IGNORE INTO memory_tags VALUES (?, ?, ?, ?, ?)", sorted(rows))


def _write_item_sessions(
    conn: sqlite3.Connection, user_id: str, item_id: str, sources: Sequence[SourceRef]
) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO item_sessions (user_id, session_id, item_id) VALUES (?, ?, ?)",
        [(user_id, source.session_id, item_id) for source in sources],
    )


def save_record(conn: sqlite3.Connection, record: MemoryRecord) -> None:
    """Insert or fully replace ``record`` with its tag and session rows (``indexed`` = 0)."""
    columns = ", ".join(_RECORD_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _RECORD_COLUMNS if c != "record_id")
    conn.execute(
        f"INSERT INTO memory_records ({columns}) VALUES ({placeholders(len(_RECORD_COLUMNS))})"
        f" ON CONFLICT (record_id) DO UPDATE SET {updates}",
        _record_values(record),
    )
    _write_tags(conn, record, "record")
    _write_item_sessions(conn, record.user_id, record.record_id, record.sources)


def insert_composite(
    conn: sqlite3.Connection, composite: CompositeRecord, direct_record_ids: Sequence[str]
) -> None:
    """Insert or replace ``composite`` with its member rows (leaf records + child composites)."""
    columns = ", ".join(_COMPOSITE_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COMPOSITE_COLUMNS if c != "composite_id")
    conn.execute(
        f"INSERT INTO composite_records ({columns})"
        f" VALUES ({placeholders(len(_COMPOSITE_COLUMNS))})"
        f" ON CONFLICT (composite_id) DO UPDATE SET {updates}",
        _composite_values(composite),
    )
    user, cid = composite.user_id, composite.composite_id
    conn.execute("DELETE FROM composite_members WHERE composite_id = ?", (cid,))
    direct = set(direct_record_ids)
    members = [
        (user, cid, rid, "record", int(rid in direct)) for rid in composite.source_record_ids
    ]
    members += [(user, cid, child, "composite", 1) for child in composite.child_composite_ids]
    conn.executemany("INSERT OR REPLACE INTO composite_members VALUES (?, ?, ?, ?, ?)", members)
    _write_tags(conn, composite, "composite")
    _write_item_sessions(conn, user, cid, composite.sources)


def _fetch_rows(
    conn: sqlite3.Connection, table: str, id_column: str, user_id: str, ids: Sequence[str]
) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    for part in chunks(list(ids)):
        # ``+user_id`` keeps the tenant filter but stops the planner from walking the
        # tenant's whole (user_id, ...) index instead of the unique id index.
        rows += conn.execute(
            f"SELECT * FROM {table} WHERE {id_column} IN ({placeholders(len(part))})"
            " AND +user_id = ?",
            (*part, user_id),
        ).fetchall()
    return rows


def fetch_records(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> dict[str, MemoryRecord]:
    """The caller's records with these ids (missing ids are absent from the result)."""
    return fetch_records_with_fts(conn, user_id, ids)[0]


def fetch_composites(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> dict[str, CompositeRecord]:
    """The caller's composites with these ids."""
    return fetch_composites_with_fts(conn, user_id, ids)[0]


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


def covering_composites(
    conn: sqlite3.Connection, user_id: str, member_ids: Sequence[str], *, active_only: bool = True
) -> dict[str, list[str]]:
    """For each member id, the composites that contain it (directly or as a leaf)."""
    result: dict[str, list[str]] = {}
    for part in chunks(list(member_ids)):
        sql = (
            "SELECT m.member_id, m.composite_id FROM composite_members m"
            " JOIN composite_records c ON c.composite_id = m.composite_id"
            f" WHERE m.user_id = ? AND m.member_id IN ({placeholders(len(part))})"
        )
        if active_only:
            sql += " AND c.expired = 0"
        for row in conn.execute(sql, (user_id, *part)):
            result.setdefault(row["member_id"], []).append(row["composite_id"])
    return result


def _ancestors(conn: sqlite3.Connection, user_id: str, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    frontier = set(ids)
    while frontier:
        parents = covering_composites(conn, user_id, list(frontier), active_only=False)
        new = {p for plist in parents.values() for p in plist} - found
        found |= new
        frontier = new
    return found


def expire_covering(
    conn: sqlite3.Connection, user_id: str, item_ids: Iterable[str], *, reason: str, now: str
) -> list[str]:
    """Expire every active composite that covers any of ``item_ids``, ancestors included."""
    ancestors = sorted(_ancestors(conn, user_id, item_ids))
    expired: list[str] = []
    for part in chunks(ancestors):
        rows = conn.execute(
            f"UPDATE composite_records SET expired = 1, expired_at = ?, expired_reason = ?,"
            f" updated_at = ? WHERE user_id = ? AND expired = 0 AND composite_id IN"
            f" ({placeholders(len(part))}) RETURNING composite_id",
            (now, reason, now, user_id, *part),
        ).fetchall()
        expired.extend(row[0] for row in rows)
    return expired


def delete_items(
    conn: sqlite3.Connection, user_id: str, record_ids: Sequence[str], composite_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Hard-delete items plus every composite containing them; returns the deleted ids."""
    doomed_composites = set(composite_ids) | _ancestors(
        conn, user_id, [*record_ids, *composite_ids]
    )
    deleted_records: list[str] = []
    for part in chunks(list(record_ids)):
        marks = placeholders(len(part))
        rows = conn.execute(
            f"DELETE FROM memory_records WHERE user_id = ? AND record_id IN ({marks})"
            " RETURNING record_id",
            (user_id, *part),
        ).fetchall()
        deleted_records.extend(row[0] for row in rows)
    deleted_composites: list[str] = []
    for part in chunks(sorted(doomed_composites)):
        marks = placeholders(len(part))
        rows = conn.execute(
            f"DELETE FROM composite_records WHERE user_id = ? AND composite_id IN ({marks})"
            " RETURNING composite_id",
            (user_id, *part),
        ).fetchall()
        deleted_composites.extend(row[0] for row in rows)
        conn.execute(
            f"DELETE FROM composite_members WHERE user_id = ? AND composite_id IN ({marks})",
            (user_id, *part),
        )
    gone = [*deleted_records, *deleted_composites]
    for part in chunks(gone):
        marks = placeholders(len(part))
        conn.execute(
            f"DELETE FROM memory_tags WHERE user_id = ? AND item_id IN ({marks})", (user_id, *part)
        )
        conn.execute(
            f"DELETE FROM item_sessions WHERE user_id = ? AND item_id IN ({marks})",
            (user_id, *part),
        )
        conn.execute(
            f"DELETE FROM composite_members WHERE user_id = ? AND member_id IN ({marks})",
            (user_id, *part),
        )
    return deleted_records, deleted_composites


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


def fetch_records_with_fts(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> tuple[dict[str, MemoryRecord], dict[str, tuple[str, str]]]:
    """Records with these ids plus their indexed FTS columns, in one read."""
    rows = _fetch_rows(conn, "memory_records", "record_id", user_id, ids)
    return (
        {row["record_id"]: record_from_row(row) for row in rows},
        {row["record_id"]: (row["fts_text"], row["fts_tags"]) for row in rows},
    )


def fetch_composites_with_fts(
    conn: sqlite3.Connection, user_id: str, ids: Sequence[str]
) -> tuple[dict[str, CompositeRecord], dict[str, tuple[str, str]]]:
    """Composites with these ids plus their indexed FTS columns, in one read."""
    rows = _fetch_rows(conn, "composite_records", "composite_id", user_id, ids)
    return (
        {row["composite_id"]: composite_from_row(row) for row in rows},
        {row["composite_id"]: (row["fts_text"], row["fts_tags"]) for row in rows},
    )
