"""SQL behind the memory-management routes: listing, the tree, counts and tenant-wide deletes.

Plain sync functions of a ``sqlite3.Connection`` (run them through
``db.read`` / ``db.write``). Every statement filters on ``user_id``; FTS
expressions come from ``build_fts_query`` and carry the owner token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    SourceRef,
)
from lycheemem.domain.ports import (
    GraphLink,
    GraphNodeRow,
    GraphRows,
    ItemRelations,
    TenantDeletion,
)
from lycheemem.storage.sqlite.records import (
    chunks,
    delete_items,
    fetch_composites,
    fetch_records,
    placeholders,
)
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = [
    "ORDERS",
    "GraphLink",
    "GraphNodeRow",
    "GraphRows",
    "ItemFilter",
    "ItemRelations",
    "MemoryItem",
    "TenantDeletion",
    "clear_graph_rows",
    "clear_skill_rows",
    "count_items",
    "delete_skill_row",
    "delete_tenant_rows",
    "forget_session_items",
    "graph_rows",
    "existing_ids",
    "unindexed_rows",
    "item_relations",
    "list_items",
    "rows_for_reindex",
    "set_embedding_meta",
    "status_counts",
]

MemoryItem = MemoryRecord | CompositeRecord

ORDERS: dict[str, str] = {
    "updated_desc": "updated_at DESC, item_id",
    "created_desc": "created_at DESC, item_id",
    "created_asc": "created_at ASC, item_id",
}
_TABLES = (
    ("record", "memory_records", "record_id"),
    ("composite", "composite_records", "composite_id"),
)


# -- listing -------------------------------------------------------------------


@dataclass(slots=True)
class ItemFilter:
    """Which of the caller's items ``list_items`` returns.

    ``match`` is a ready FTS5 expression (owner-restricted) or None for no
    text filter; ``kind`` is ``record``, ``composite`` or ``all``.
    """

    kind: str = "all"
    memory_type: str | None = None
    session_id: str | None = None
    include_expired: bool = False
    match: str | None = None


def _item_select(
    table: str, id_column: str, kind: str, user_id: str, flt: ItemFilter
) -> tuple[str, list[Any]]:
    source = f"{table} t"
    where = ["t.user_id = ?"]
    params: list[Any] = [user_id]
    if flt.match is not None:
        source = f"{table}_fts f JOIN {table} t ON t.id = f.rowid"
        where.append(f"{table}_fts MATCH ?")
        params.append(flt.match)
    if not flt.include_expired:
        where.append("t.expired = 0")
    if flt.memory_type:
        where.append("t.memory_type = ?")
        params.append(flt.memory_type)
    if flt.session_id:
        where.append(
            f"t.{id_column} IN (SELECT item_id FROM item_sessions"
            " WHERE user_id = ? AND session_id = ?)"
        )
        params.extend([user_id, flt.session_id])
    sql = (
        f"SELECT '{kind}' AS kind, t.{id_column} AS item_id, t.created_at AS created_at,"
        f" t.updated_at AS updated_at FROM {source} WHERE {' AND '.join(where)}"
    )
    return sql, params


def _union(user_id: str, flt: ItemFilter) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for kind, table, id_column in _TABLES:
        if flt.kind in ("all", kind):
            sql, more = _item_select(table, id_column, kind, user_id, flt)
            parts.append(sql)
            params.extend(more)
    return " UNION ALL ".join(parts), params


def count_items(conn: sqlite3.Connection, user_id: str, flt: ItemFilter) -> int:
    """How many of the caller's items match ``flt``."""
    union, params = _union(user_id, flt)
    return int(conn.execute(f"SELECT COUNT(*) FROM ({union})", params).fetchone()[0])


def list_items(
    conn: sqlite3.Connection,
    user_id: str,
    flt: ItemFilter,
    *,
    order: str,
    offset: int,
    limit: int,
) -> tuple[list[MemoryItem], int]:
    """One page of the caller's records and/or composites in ``order``, and the total."""
    union, params = _union(user_id, flt)
    rows = conn.execute(
        f"SELECT kind, item_id FROM ({union}) ORDER BY {ORDERS[order]} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    records = fetch_records(conn, user_id, [r["item_id"] for r in rows if r["kind"] == "record"])
    composites = fetch_composites(
        conn, user_id, [r["item_id"] for r in rows if r["kind"] == "composite"]
    )
    found: dict[str, MemoryItem] = {**records, **composites}
    items = [found[r["item_id"]] for r in rows if r["item_id"] in found]
    return items, count_items(conn, user_id, flt)


# -- one item ------------------------------------------------------------------


def item_relations(conn: sqlite3.Connection, user_id: str, item_id: str) -> ItemRelations | None:
    """The caller's record or composite ``item_id`` with its parents and direct leaves."""
    item: MemoryItem | None = fetch_records(conn, user_id, [item_id]).get(item_id)
    if item is None:
        item = fetch_composites(conn, user_id, [item_id]).get(item_id)
    if item is None:
        return None
    parents = [
        row[0]
        for row in conn.execute(
            "SELECT composite_id FROM composite_members WHERE user_id = ? AND member_id = ?"
            " AND direct = 1 ORDER BY composite_id",
            (user_id, item_id),
        )
    ]
    direct: list[str] = []
    if isinstance(item, CompositeRecord):
        direct = [
            row[0]
            for row in conn.execute(
                "SELECT member_id FROM composite_members WHERE user_id = ? AND composite_id = ?"
                " AND member_kind = 'record' AND direct = 1",
                (user_id, item_id),
            )
        ]
        order = {rid: n for n, rid in enumerate(item.source_record_ids)}
        direct.sort(key=lambda rid: order.get(rid, len(order)))
    return ItemRelations(item, parents, direct)


# -- the tree ------------------------------------------------------------------


def _node_rows(
    conn: sqlite3.Connection, user_id: str, kind: str, include_expired: bool, limit: int
) -> list[GraphNodeRow]:
    if limit <= 0:
        return []
    active = "" if include_expired else " AND expired = 0"
    if kind == "composite":
        rows = conn.execute(
            "SELECT composite_id, memory_type, semantic_text, entities, confidence, created_at,"
            " expired, level, source_record_ids, child_composite_ids FROM composite_records"
            f" WHERE user_id = ?{active} ORDER BY level DESC, updated_at DESC, composite_id"
            " LIMIT ?",
            (user_id, limit),
        ).fetchall()
        return [_composite_node(row) for row in rows]
    rows = conn.execute(
        "SELECT record_id, memory_type, semantic_text, entities, confidence, created_at, expired"
        f" FROM memory_records WHERE user_id = ?{active} ORDER BY updated_at DESC, record_id"
        " LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [_record_node(row) for row in rows]


def _record_node(row: sqlite3.Row) -> GraphNodeRow:
    return GraphNodeRow(
        item_id=row["record_id"],
        node_kind="record",
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        entities=load_json(row["entities"], []),
        confidence=row["confidence"],
        created_at=row["created_at"],
        expired=bool(row["expired"]),
    )


def _composite_node(row: sqlite3.Row) -> GraphNodeRow:
    return GraphNodeRow(
        item_id=row["composite_id"],
        node_kind="composite",
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        entities=load_json(row["entities"], []),
        confidence=row["confidence"],
        created_at=row["created_at"],
        expired=bool(row["expired"]),
        level=row["level"],
        source_record_ids=load_json(row["source_record_ids"], []),
        child_composite_ids=load_json(row["child_composite_ids"], []),
    )


def _links(conn: sqlite3.Connection, user_id: str, composite_ids: Sequence[str]) -> list[GraphLink]:
    links: list[GraphLink] = []
    for part in chunks(list(composite_ids)):
        rows = conn.execute(
            "SELECT composite_id, member_id, member_kind, direct FROM composite_members"
            f" WHERE user_id = ? AND composite_id IN ({placeholders(len(part))})",
            (user_id, *part),
        )
        links.extend(GraphLink(r[0], r[1], r[2], bool(r[3])) for r in rows)
    return links


def _total(conn: sqlite3.Connection, table: str, user_id: str, include_expired: bool) -> int:
    active = "" if include_expired else " AND expired = 0"
    sql = f"SELECT COUNT(*) FROM {table} WHERE user_id = ?{active}"
    return int(conn.execute(sql, (user_id,)).fetchone()[0])


def graph_rows(
    conn: sqlite3.Connection, user_id: str, *, include_expired: bool, limit: int
) -> GraphRows:
    """At most ``limit`` nodes of the caller's tree (composites first) and their member links."""
    composites = _node_rows(conn, user_id, "composite", include_expired, limit)
    records = _node_rows(conn, user_id, "record", include_expired, limit - len(composites))
    links = _links(conn, user_id, [node.item_id for node in composites])
    return GraphRows(
        nodes=[*composites, *records],
        links=links,
        record_total=_total(conn, "memory_records", user_id, include_expired),
        composite_total=_total(conn, "composite_records", user_id, include_expired),
    )


# -- counts --------------------------------------------------------------------


def _scalar(conn: sqlite3.Connection, sql: str, user_id: str) -> int:
    return int(conn.execute(sql, (user_id,)).fetchone()[0])


def status_counts(conn: sqlite3.Connection, user_id: str) -> dict[str, int]:
    """The caller's counts of ``GET /pipeline/status`` (jobs excluded), one query each."""
    records = _scalar(
        conn, "SELECT COUNT(*) FROM memory_records WHERE user_id = ? AND expired = 0", user_id
    )
    composites = _total(conn, "composite_records", user_id, include_expired=False)
    edges = _scalar(
        conn,
        "SELECT COUNT(*) FROM composite_members m"
        " JOIN composite_records c ON c.composite_id = m.composite_id AND c.expired = 0"
        " LEFT JOIN memory_records r ON m.member_kind = 'record' AND r.record_id = m.member_id"
        " LEFT JOIN composite_records k"
        "  ON m.member_kind = 'composite' AND k.composite_id = m.member_id"
        " WHERE m.user_id = ? AND m.direct = 1 AND COALESCE(r.expired, k.expired) = 0",
        user_id,
    )
    return {
        "session_count": _scalar(conn, "SELECT COUNT(*) FROM sessions WHERE user_id = ?", user_id),
        "graph_node_count": records + composites,
        "graph_edge_count": edges,
        "skill_count": _scalar(conn, "SELECT COUNT(*) FROM skills WHERE user_id = ?", user_id),
        "record_count": records,
        "composite_count": composites,
        "expired_record_count": _scalar(
            conn, "SELECT COUNT(*) FROM memory_records WHERE user_id = ? AND expired = 1", user_id
        ),
    }


# -- deletes -------------------------------------------------------------------


def _delete_returning(conn: sqlite3.Connection, table: str, column: str, user_id: str) -> list[str]:
    rows = conn.execute(
        f"DELETE FROM {table} WHERE user_id = ? RETURNING {column}", (user_id,)
    ).fetchall()
    return [row[0] for row in rows]


def clear_graph_rows(conn: sqlite3.Connection, user_id: str) -> tuple[list[str], list[str], int]:
    """Delete the caller's records, composites, tags, links and usage logs.

    Returns ``(record_ids, composite_ids, usage_logs_deleted)``.
    """
    record_ids = _delete_returning(conn, "memory_records", "record_id", user_id)
    composite_ids = _delete_returning(conn, "composite_records", "composite_id", user_id)
    for table in ("composite_members", "memory_tags", "item_sessions"):
        conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
    logs = conn.execute("DELETE FROM usage_logs WHERE user_id = ?", (user_id,)).rowcount
    return record_ids, composite_ids, int(logs)


def clear_skill_rows(conn: sqlite3.Connection, user_id: str) -> list[str]:
    """Delete every skill of the caller; returns their ids."""
    return _delete_returning(conn, "skills", "skill_id", user_id)


def delete_skill_row(conn: sqlite3.Connection, user_id: str, skill_id: str) -> bool:
    """Delete one of the caller's skills; False when the caller has no such skill."""
    cursor = conn.execute(
        "DELETE FROM skills WHERE user_id = ? AND skill_id = ?", (user_id, skill_id)
    )
    return cursor.rowcount > 0


def _delete_tenant_jobs(conn: sqlite3.Connection, user_id: str) -> int:
    """Delete the caller's jobs; running ones are only flagged for cancellation."""
    deleted = conn.execute(
        "DELETE FROM jobs WHERE user_id = ? AND status != 'running'", (user_id,)
    ).rowcount
    flagged = conn.execute(
        "UPDATE jobs SET cancel_requested = 1 WHERE user_id = ? AND status = 'running'",
        (user_id,),
    ).rowcount
    return int(deleted + flagged)


def delete_tenant_rows(conn: sqlite3.Connection, user_id: str) -> TenantDeletion:
    """Delete everything of the caller's semantic memory, skills, sessions and jobs."""
    record_ids, composite_ids, logs = clear_graph_rows(conn, user_id)
    skill_ids = clear_skill_rows(conn, user_id)
    turns = _scalar(conn, "SELECT COUNT(*) FROM turns WHERE user_id = ?", user_id)
    conn.execute("DELETE FROM summaries WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM turns WHERE user_id = ?", (user_id,))
    session_ids = _delete_returning(conn, "sessions", "session_id", user_id)
    jobs = _delete_tenant_jobs(conn, user_id)
    return TenantDeletion(
        record_ids=record_ids,
        composite_ids=composite_ids,
        skill_ids=skill_ids,
        session_ids=session_ids,
        turns=turns,
        usage_logs=logs,
        jobs=jobs,
    )


# -- forgetting a session ------------------------------------------------------


def _session_item_ids(conn: sqlite3.Connection, user_id: str, session_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT item_id FROM item_sessions WHERE user_id = ? AND session_id = ?"
        " UNION SELECT record_id FROM memory_records WHERE user_id = ? AND source_session_id = ?",
        (user_id, session_id, user_id, session_id),
    ).fetchall()
    return [row[0] for row in rows]


def _without_session(sources: Sequence[SourceRef], session_id: str) -> list[SourceRef]:
    return [source for source in sources if source.session_id != session_id]


def _strip_record(conn: sqlite3.Connection, record: MemoryRecord, session_id: str) -> None:
    """Remove ``session_id`` from a record that keeps other sources."""
    remaining = _without_session(record.sources, session_id)
    first = record.source_session_id
    turn_ids, turn_refs = record.source_turn_ids, record.source_turn_refs
    if first == session_id:
        heir = remaining[0]
        first, turn_ids, turn_refs = heir.session_id, heir.turn_ids, heir.turn_refs
    conn.execute(
        "UPDATE memory_records SET sources = ?, source_session_id = ?, source_turn_ids = ?,"
        " source_turn_refs = ? WHERE user_id = ? AND record_id = ?",
        (
            dump_json([s.as_dict() for s in remaining]),
            first,
            dump_json(turn_ids),
            dump_json(turn_refs),
            record.user_id,
            record.record_id,
        ),
    )


def _keeps_other_source(record: MemoryRecord, session_id: str) -> bool:
    if _without_session(record.sources, session_id):
        return True
    return record.source_session_id not in (None, session_id)


def forget_session_items(
    conn: sqlite3.Connection, user_id: str, session_id: str
) -> tuple[list[str], list[str]]:
    """Forget what a session taught: returns the deleted ``(record_ids, composite_ids)``.

    Records sourced only from the session are deleted with every composite that
    covers them (ancestors included); records and surviving composites with other
    sources lose the session from ``sources`` and from ``item_sessions``.
    """
    ids = _session_item_ids(conn, user_id, session_id)
    records = fetch_records(conn, user_id, ids)
    doomed = [rid for rid, r in records.items() if not _keeps_other_source(r, session_id)]
    for rid, record in records.items():
        if rid not in doomed:
            _strip_record(conn, record, session_id)
    deleted_records, deleted_composites = delete_items(conn, user_id, doomed, [])
    gone = set(deleted_composites)
    for composite in fetch_composites(conn, user_id, ids).values():
        if composite.composite_id not in gone:
            remaining = _without_session(composite.sources, session_id)
            conn.execute(
                "UPDATE composite_records SET sources = ? WHERE user_id = ? AND composite_id = ?",
                (dump_json([s.as_dict() for s in remaining]), user_id, composite.composite_id),
            )
    conn.execute(
        "DELETE FROM item_sessions WHERE user_id = ? AND session_id = ?", (user_id, session_id)
    )
    return deleted_records, deleted_composites


# -- reindex (every tenant) ----------------------------------------------------

_REINDEX_TABLES = ("memory_records", "composite_records", "skills")
_ID_COLUMNS = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
}


def rows_for_reindex(
    conn: sqlite3.Connection, table: str, after: int, limit: int
) -> list[sqlite3.Row]:
    """Rows of a vector-backed table of **every** tenant with rowid > ``after``, in rowid order.

    Only the offline ``reindex`` command may use this: it is not tenant-scoped.
    """
    if table not in _REINDEX_TABLES:
        raise ValueError(f"not a vector-backed table: {table!r}")
    return conn.execute(
        f"SELECT * FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()


def unindexed_rows(
    conn: sqlite3.Connection, table: str, after: int, limit: int
) -> list[sqlite3.Row]:
    """Rows of **every** tenant whose vector was never confirmed written (``indexed`` = 0),
    rowid > ``after`` in rowid order. Only the storage reconciler may use this."""
    if table not in _REINDEX_TABLES:
        raise ValueError(f"not a vector-backed table: {table!r}")
    return conn.execute(
        f"SELECT * FROM {table} WHERE indexed = 0 AND id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()


def existing_ids(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` (of any tenant) still have a row in the vector-backed ``table``."""
    if table not in _REINDEX_TABLES:
        raise ValueError(f"not a vector-backed table: {table!r}")
    column = _ID_COLUMNS[table]
    found: set[str] = set()
    for part in chunks(list(ids)):
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE {column} IN ({placeholders(len(part))})", part
        )
        found.update(row[0] for row in rows)
    return found


def set_embedding_meta(conn: sqlite3.Connection, model: str, dim: int, now: str) -> None:
    """Record which embedder built the vectors (the startup model guard reads it)."""
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [("embedding_model", model), ("embedding_dim", str(dim))],
    )
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now,))
