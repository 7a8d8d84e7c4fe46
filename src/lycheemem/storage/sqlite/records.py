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
from lycheemem.storage import item_rows
from lycheemem.storage.item_rows import TAG_COLUMNS, RowDecoding
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = [
    "TAG_COLUMNS",
    "FtsHit",
    "covering_composites",
    "delete_items",
    "event_bounds",
    "fetch_composites",
    "fetch_records",
    "insert_composite",
    "save_record",
]

_TAG_KIND = {
    "task_tags": "task",
    "tool_tags": "tool",
    "constraint_tags": "constraint",
    "failure_tags": "failure",
    "affordance_tags": "affordance",
}
_CHUNK = 500

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


def _json_list(value: Any) -> list[Any]:
    return list(load_json(value, []))


_DECODING = RowDecoding(as_list=_json_list, sources=_sources_from_json)


def record_from_row(row: sqlite3.Row) -> MemoryRecord:
    """Rebuild a ``MemoryRecord`` from its row."""
    return item_rows.record_from_row(row, _DECODING)


def composite_from_row(row: sqlite3.Row) -> CompositeRecord:
    """Rebuild a ``CompositeRecord`` from its row."""
    return item_rows.composite_from_row(row, _DECODING)


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
