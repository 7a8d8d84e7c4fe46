"""SQL behind browsing one tenant's memory: listing, one item's relations, the tree, counts.

Plain sync functions of a ``sqlite3.Connection`` (run them through ``db.read``). Every
statement filters on ``user_id``; FTS expressions come from ``build_fts_query`` and carry the
owner token.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lycheemem.domain.models import CompositeRecord, MemoryRecord
from lycheemem.domain.ports import GraphLink, GraphNodeRow, GraphRows, ItemRelations
from lycheemem.storage.sqlite.records import chunks, fetch_composites, fetch_records, placeholders
from lycheemem.storage.sqlite.rows import load_json

__all__ = [
    "ORDERS",
    "ItemFilter",
    "MemoryItem",
    "count_items",
    "graph_rows",
    "item_relations",
    "list_items",
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
