"""Rows of the PostgreSQL semantic tables: records, composites and skills to rows and back,
and the writes that keep their tag, member and session rows in step (migration 0004).

Values are those of ``storage.sqlite.records``/``skills`` (the same FTS documents, event
bounds and tag normalisation), so both backends index and rank the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill, SourceRef
from lycheemem.domain.text.terms import fts_document, fts_owner
from lycheemem.storage import item_rows
from lycheemem.storage.item_rows import TAG_COLUMNS, RowDecoding
from lycheemem.storage.postgres.database import Conn
from lycheemem.storage.sqlite.records import event_bounds

__all__ = [
    "COMPOSITE_COLUMNS",
    "RECORD_COLUMNS",
    "SKILL_COLUMNS",
    "composite_from_row",
    "fetch_by_ids",
    "insert_composite",
    "record_from_row",
    "save_record",
    "save_records",
    "save_skill",
    "skill_from_row",
]

_TAG_KIND = {
    "task_tags": "task",
    "tool_tags": "tool",
    "constraint_tags": "constraint",
    "failure_tags": "failure",
    "affordance_tags": "affordance",
}


def _sources(sources: Sequence[SourceRef]) -> Jsonb:
    return Jsonb([source.as_dict() for source in sources])


def _sources_from(value: Any) -> list[SourceRef]:
    return [
        SourceRef(s["session_id"], list(s.get("turn_ids", [])), list(s.get("turn_refs", [])))
        for s in value or []
    ]


def _tags_text(item: MemoryRecord | CompositeRecord) -> str:
    values: list[str] = []
    for column in TAG_COLUMNS:
        values.extend(getattr(item, column))
    return fts_document(" ".join(values))


def _fts_text(item: MemoryRecord | CompositeRecord) -> str:
    return fts_document(item.semantic_text, item.normalized_text, " ".join(item.entities))


def _shared(item: MemoryRecord | CompositeRecord) -> dict[str, Any]:
    """Columns records and composites have in common."""
    start, end = event_bounds(item.temporal, item.created_at)
    t = item.temporal
    return {
        "user_id": item.user_id,
        "memory_type": item.memory_type,
        "semantic_text": item.semantic_text,
        "normalized_text": item.normalized_text,
        "entities": Jsonb(item.entities),
        "t_ref": t.t_ref,
        "t_valid_from": t.t_valid_from,
        "t_valid_to": t.t_valid_to,
        **{c: Jsonb(list(getattr(item, c))) for c in TAG_COLUMNS},
        "confidence": item.confidence,
        "sources": _sources(item.sources),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "retrieval_count": item.retrieval_count,
        "retrieval_hit_count": item.retrieval_hit_count,
        "action_success_count": item.action_success_count,
        "action_fail_count": item.action_fail_count,
        "last_retrieved_at": item.last_retrieved_at,
        "expired": item.expired,
        "expired_at": item.expired_at,
        "expired_reason": item.expired_reason,
        "event_start": start,
        "event_end": end,
        "fts_text": _fts_text(item),
        "fts_tags": _tags_text(item),
        "fts_owner": fts_owner(item.user_id),
        "indexed": False,
    }


def _record_values(record: MemoryRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        **_shared(record),
        "source_role": record.source_role,
        "source_session_id": record.source_session_id,
        "source_turn_ids": Jsonb(record.source_turn_ids),
        "source_turn_refs": Jsonb(record.source_turn_refs),
        "version": record.version,
        "history": Jsonb(record.history),
        "superseded_by": record.superseded_by,
    }


def _composite_values(composite: CompositeRecord) -> dict[str, Any]:
    return {
        "composite_id": composite.composite_id,
        **_shared(composite),
        "source_record_ids": Jsonb(composite.source_record_ids),
        "child_composite_ids": Jsonb(composite.child_composite_ids),
        "level": composite.level,
        "synthesis_reason": composite.synthesis_reason,
    }


_SHARED_COLUMNS = (
    "user_id, memory_type, semantic_text, normalized_text, entities, t_ref, t_valid_from,"
    f" t_valid_to, {', '.join(TAG_COLUMNS)}, confidence, sources, created_at, updated_at,"
    " retrieval_count, retrieval_hit_count, action_success_count, action_fail_count,"
    " last_retrieved_at, expired, expired_at, expired_reason, event_start, event_end,"
    " fts_text, fts_tags"
)
RECORD_COLUMNS = (
    f"record_id, {_SHARED_COLUMNS}, source_role, source_session_id, source_turn_ids,"
    " source_turn_refs, version, history, superseded_by"
)
"""The columns ``record_from_row`` reads, plus ``fts_text``/``fts_tags``."""
COMPOSITE_COLUMNS = (
    f"composite_id, {_SHARED_COLUMNS}, source_record_ids, child_composite_ids, level,"
    " synthesis_reason"
)
"""The columns ``composite_from_row`` reads, plus ``fts_text``/``fts_tags``."""
SKILL_COLUMNS = (
    "skill_id, user_id, intent, doc_markdown, conditions, metadata, success_count, fail_count,"
    " usage_count, last_used, source_session_id, source_turn_ids, created_at, updated_at"
)
"""The columns ``skill_from_row`` reads."""


_DECODING = RowDecoding(as_list=list, sources=_sources_from)


def record_from_row(row: dict[str, Any]) -> MemoryRecord:
    """Rebuild a ``MemoryRecord`` from its row."""
    return item_rows.record_from_row(row, _DECODING)


def composite_from_row(row: dict[str, Any]) -> CompositeRecord:
    """Rebuild a ``CompositeRecord`` from its row."""
    return item_rows.composite_from_row(row, _DECODING)


def skill_from_row(row: dict[str, Any]) -> Skill:
    """Rebuild a ``Skill`` from its row."""
    return Skill(
        skill_id=row["skill_id"],
        user_id=row["user_id"],
        intent=row["intent"],
        doc_markdown=row["doc_markdown"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        conditions=row["conditions"],
        metadata=dict(row["metadata"] or {}),
        success_count=row["success_count"],
        fail_count=row["fail_count"],
        usage_count=row["usage_count"],
        last_used=row["last_used"],
        source_session_id=row["source_session_id"],
        source_turn_ids=list(row["source_turn_ids"]),
    )


def _upsert_sql(table: str, key: str, columns: Sequence[str]) -> str:
    """Insert a row or replace every column of the row with the same ``key``.

    Column names come from this module's fixed dictionaries, never from input.
    """
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


async def _upsert(conn: Conn, table: str, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert ``rows`` (all with the same columns) in one pipelined batch."""
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            _upsert_sql(table, key, list(rows[0])), [list(row.values()) for row in rows]
        )


def _tag_rows(item: MemoryRecord | CompositeRecord, kind: str) -> set[tuple[str, ...]]:
    rows: set[tuple[str, ...]] = set()
    for column in TAG_COLUMNS:
        for tag in getattr(item, column):
            value = " ".join(tag.casefold().split())
            if value:
                rows.add((item.user_id, item.item_id, kind, _TAG_KIND[column], value))
    for entity in item.entities:
        value = " ".join(entity.casefold().split())
        if value:
            rows.add((item.user_id, item.item_id, kind, "entity", value))
    return rows


async def _write_tags(
    conn: Conn, items: Sequence[MemoryRecord | CompositeRecord], kind: str
) -> None:
    """Replace the tag rows of ``items`` (distinct ids) with their current tags and entities."""
    if not items:
        return
    await conn.execute(
        "DELETE FROM memory_tags WHERE (user_id, item_id) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[]))",
        ([i.user_id for i in items], [i.item_id for i in items]),
    )
    rows = sorted(row for item in items for row in _tag_rows(item, kind))
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO memory_tags (user_id, item_id, item_kind, tag_kind, tag)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                rows,
            )


async def _write_item_sessions(conn: Conn, items: Sequence[MemoryRecord | CompositeRecord]) -> None:
    """Add the sessions ``items`` were taught in (rows are only ever added, as on SQLite)."""
    rows = [(i.user_id, s.session_id, i.item_id) for i in items for s in i.sources]
    if not rows:
        return
    await conn.execute(
        "INSERT INTO item_sessions (user_id, session_id, item_id)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


async def save_records(conn: Conn, records: Sequence[MemoryRecord]) -> None:
    """Insert or fully replace ``records`` with their tag and session rows (``indexed``
    false), in a few pipelined statements; a record listed twice ends as its last version."""
    if not records:
        return
    await _upsert(conn, "memory_records", "record_id", [_record_values(r) for r in records])
    latest = list({record.record_id: record for record in records}.values())
    await _write_tags(conn, latest, "record")
    await _write_item_sessions(conn, records)


async def save_record(conn: Conn, record: MemoryRecord) -> None:
    """Insert or fully replace one record (see ``save_records``)."""
    await save_records(conn, [record])


async def insert_composite(
    conn: Conn, composite: CompositeRecord, direct_record_ids: Sequence[str]
) -> None:
    """Insert or replace ``composite`` with its member rows (leaf records + child composites)."""
    await _upsert(conn, "composite_records", "composite_id", [_composite_values(composite)])
    user, cid = composite.user_id, composite.composite_id
    await conn.execute(
        "DELETE FROM composite_members WHERE user_id = %s AND composite_id = %s", (user, cid)
    )
    direct = set(direct_record_ids)
    members = {rid: ("record", rid in direct) for rid in composite.source_record_ids}
    members.update({child: ("composite", True) for child in composite.child_composite_ids})
    if members:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO composite_members (user_id, composite_id, member_id, member_kind,"
                " direct) VALUES (%s, %s, %s, %s, %s)",
                [(user, cid, mid, kind, flag) for mid, (kind, flag) in members.items()],
            )
    await _write_tags(conn, [composite], "composite")
    await _write_item_sessions(conn, [composite])


async def save_skill(conn: Conn, skill: Skill) -> None:
    """Insert or replace ``skill`` (``indexed`` false until its vector is written)."""
    await _upsert(
        conn,
        "skills",
        "skill_id",
        [
            {
                "skill_id": skill.skill_id,
                "user_id": skill.user_id,
                "intent": skill.intent,
                "doc_markdown": skill.doc_markdown,
                "conditions": skill.conditions,
                "metadata": Jsonb(skill.metadata),
                "success_count": skill.success_count,
                "fail_count": skill.fail_count,
                "usage_count": skill.usage_count,
                "last_used": skill.last_used,
                "source_session_id": skill.source_session_id,
                "source_turn_ids": Jsonb(skill.source_turn_ids),
                "created_at": skill.created_at,
                "updated_at": skill.updated_at,
                "fts_text": fts_document(skill.intent, skill.doc_markdown, skill.conditions),
                "fts_owner": fts_owner(skill.user_id),
                "indexed": False,
            }
        ],
    )


async def fetch_by_ids(
    conn: Conn, table: str, id_column: str, columns: str, user_id: str, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """``columns`` of the caller's rows of ``table`` whose ``id_column`` is among ``ids``."""
    if not ids:
        return []
    cur = await conn.execute(
        f"SELECT {columns} FROM {table} WHERE user_id = %s AND {id_column} = ANY(%s)",
        (user_id, list(ids)),
    )
    return list(await cur.fetchall())
