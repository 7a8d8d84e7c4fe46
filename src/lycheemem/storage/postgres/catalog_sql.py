"""SQL behind browsing one tenant's memory on PostgreSQL: listing, one item's relations, the
tree and the status counts, as ``storage/sqlite/catalog_sql.py`` does on SQLite.

Async functions of a connection inside ``PgDatabase.tenant(user_id)``; every statement also
filters on ``user_id`` (row-level security is the second wall). Ids break ties in byte order
(``COLLATE "C"``), as SQLite's binary collation does, whatever the database's collation is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill
from lycheemem.domain.ports import GraphLink, GraphNodeRow, GraphRows, ItemRelations
from lycheemem.storage.postgres.database import Conn
from lycheemem.storage.postgres.semantic_rows import (
    COMPOSITE_COLUMNS,
    RECORD_COLUMNS,
    SKILL_COLUMNS,
    composite_from_row,
    fetch_by_ids,
    record_from_row,
    skill_from_row,
)

__all__ = [
    "ORDERS",
    "ItemFilter",
    "MemoryItem",
    "count_items",
    "fetch_items",
    "graph_rows",
    "item_relations",
    "like_pattern",
    "list_items",
    "list_skills",
    "status_counts",
    "text_match",
]

MemoryItem = MemoryRecord | CompositeRecord

ORDERS: dict[str, str] = {
    "updated_desc": 'updated_at DESC, item_id COLLATE "C"',
    "created_desc": 'created_at DESC, item_id COLLATE "C"',
    "created_asc": 'created_at ASC, item_id COLLATE "C"',
}
_TABLES = (
    ("record", "memory_records", "record_id"),
    ("composite", "composite_records", "composite_id"),
)


@dataclass(slots=True)
class ItemFilter:
    """Which of the caller's items ``list_items`` returns.

    ``groups``: the full-text term groups of a ``q`` (``kept_fts_groups``; None: no text
    filter), matched OR-ed like SQLite's FTS5 query; ``runs``: its CJK runs, also matched as
    substrings of the semantic text (what the bigram tokens miss); ``kind``: ``record``,
    ``composite`` or ``all``.
    """

    kind: str = "all"
    memory_type: str | None = None
    session_id: str | None = None
    include_expired: bool = False
    groups: list[str] | None = None
    runs: list[str] = field(default_factory=list)


def like_pattern(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere, its wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_match(table: str, groups: Sequence[str], runs: Sequence[str]) -> tuple[str, list[Any]]:
    """A predicate true for the rows of ``table`` whose ``fts`` matches any group or whose text
    contains any CJK run; with its parameters.

    The candidates come from migration 0004's ``*_matching``/``*_containing`` functions (row
    security would otherwise keep the GIN and trigram indexes unused); skills, which have no
    ``*_containing`` function, test their intent and document directly.
    """
    tsquery = " || ".join(["phraseto_tsquery('english', %s)"] * len(groups))
    sql = f"(id = ANY(ARRAY(SELECT {table}_matching({tsquery})))"
    params: list[Any] = list(groups)
    if runs and table == "skills":
        sql += " OR (intent || ' ' || doc_markdown) LIKE ANY(%s)"
        params.append([like_pattern(run) for run in runs])
    elif runs:
        sql += f" OR id = ANY(ARRAY(SELECT {table}_containing(%s::text[])))"
        params.append([like_pattern(run) for run in runs])
    return sql + ")", params


def _item_select(
    table: str, id_column: str, kind: str, user_id: str, flt: ItemFilter
) -> tuple[str, list[Any]]:
    where = ["user_id = %s"]
    params: list[Any] = [user_id]
    if flt.groups is not None:
        match, more = text_match(table, flt.groups, flt.runs)
        where.append(match)
        params.extend(more)
    if not flt.include_expired:
        where.append("NOT expired")
    if flt.memory_type:
        where.append("memory_type = %s")
        params.append(flt.memory_type)
    if flt.session_id:
        where.append(
            f"{id_column} IN (SELECT item_id FROM item_sessions"
            " WHERE user_id = %s AND session_id = %s)"
        )
        params.extend([user_id, flt.session_id])
    sql = (
        f"SELECT '{kind}' AS kind, {id_column} AS item_id, created_at, updated_at"
        f" FROM {table} WHERE {' AND '.join(where)}"
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


async def _scalar(conn: Conn, sql: str, params: Sequence[Any]) -> int:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def count_items(conn: Conn, user_id: str, flt: ItemFilter) -> int:
    """How many of the caller's items match ``flt``."""
    union, params = _union(user_id, flt)
    return await _scalar(conn, f"SELECT COUNT(*) AS n FROM ({union}) u", params)


async def fetch_items(
    conn: Conn, user_id: str, record_ids: Sequence[str], composite_ids: Sequence[str]
) -> dict[str, MemoryItem]:
    """The caller's records and composites with these ids, by id."""
    found: dict[str, MemoryItem] = {}
    rows = await fetch_by_ids(
        conn, "memory_records", "record_id", RECORD_COLUMNS, user_id, record_ids
    )
    found.update((row["record_id"], record_from_row(row)) for row in rows)
    rows = await fetch_by_ids(
        conn, "composite_records", "composite_id", COMPOSITE_COLUMNS, user_id, composite_ids
    )
    found.update((row["composite_id"], composite_from_row(row)) for row in rows)
    return found


async def list_items(
    conn: Conn, user_id: str, flt: ItemFilter, *, order: str, offset: int, limit: int
) -> tuple[list[MemoryItem], int]:
    """One page of the caller's records and/or composites in ``order``, and the total."""
    union, params = _union(user_id, flt)
    cur = await conn.execute(
        f"SELECT kind, item_id FROM ({union}) u ORDER BY {ORDERS[order]} LIMIT %s OFFSET %s",
        [*params, limit, offset],
    )
    rows = await cur.fetchall()
    found = await fetch_items(
        conn,
        user_id,
        [r["item_id"] for r in rows if r["kind"] == "record"],
        [r["item_id"] for r in rows if r["kind"] == "composite"],
    )
    items = [found[r["item_id"]] for r in rows if r["item_id"] in found]
    return items, await count_items(conn, user_id, flt)


async def _column(conn: Conn, sql: str, params: Sequence[Any]) -> list[str]:
    cur = await conn.execute(sql, params)
    return [next(iter(row.values())) for row in await cur.fetchall()]


async def item_relations(conn: Conn, user_id: str, item_id: str) -> ItemRelations | None:
    """The caller's record or composite ``item_id`` with its parents and direct leaves."""
    item = (await fetch_items(conn, user_id, [item_id], [item_id])).get(item_id)
    if item is None:
        return None
    parents = await _column(
        conn,
        "SELECT composite_id FROM composite_members WHERE user_id = %s AND member_id = %s"
        ' AND direct ORDER BY composite_id COLLATE "C"',
        (user_id, item_id),
    )
    direct: list[str] = []
    if isinstance(item, CompositeRecord):
        direct = await _column(
            conn,
            "SELECT member_id FROM composite_members WHERE user_id = %s AND composite_id = %s"
            " AND member_kind = 'record' AND direct",
            (user_id, item_id),
        )
        order = {rid: n for n, rid in enumerate(item.source_record_ids)}
        direct.sort(key=lambda rid: order.get(rid, len(order)))
    return ItemRelations(item, parents, direct)


_NODE_COLUMNS = "memory_type, semantic_text, entities, confidence, created_at, expired"


def _node(row: dict[str, Any], kind: str) -> GraphNodeRow:
    node = GraphNodeRow(
        item_id=row["item_id"],
        node_kind=kind,
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        entities=list(row["entities"]),
        confidence=row["confidence"],
        created_at=row["created_at"],
        expired=bool(row["expired"]),
    )
    if kind == "composite":
        node.level = row["level"]
        node.source_record_ids = list(row["source_record_ids"])
        node.child_composite_ids = list(row["child_composite_ids"])
    return node


async def _node_rows(
    conn: Conn, user_id: str, kind: str, include_expired: bool, limit: int
) -> list[GraphNodeRow]:
    if limit <= 0:
        return []
    active = "" if include_expired else " AND NOT expired"
    if kind == "composite":
        sql = (
            f"SELECT composite_id AS item_id, {_NODE_COLUMNS}, level, source_record_ids,"
            f" child_composite_ids FROM composite_records WHERE user_id = %s{active}"
            ' ORDER BY level DESC, updated_at DESC, composite_id COLLATE "C" LIMIT %s'
        )
    else:
        sql = (
            f"SELECT record_id AS item_id, {_NODE_COLUMNS} FROM memory_records"
            f' WHERE user_id = %s{active} ORDER BY updated_at DESC, record_id COLLATE "C"'
            " LIMIT %s"
        )
    cur = await conn.execute(sql, (user_id, limit))
    return [_node(row, kind) for row in await cur.fetchall()]


async def _links(conn: Conn, user_id: str, composite_ids: Sequence[str]) -> list[GraphLink]:
    if not composite_ids:
        return []
    cur = await conn.execute(
        "SELECT composite_id, member_id, member_kind, direct FROM composite_members"
        " WHERE user_id = %s AND composite_id = ANY(%s)",
        (user_id, list(composite_ids)),
    )
    return [
        GraphLink(r["composite_id"], r["member_id"], r["member_kind"], bool(r["direct"]))
        for r in await cur.fetchall()
    ]


async def _total(conn: Conn, table: str, user_id: str, include_expired: bool) -> int:
    active = "" if include_expired else " AND NOT expired"
    return await _scalar(
        conn, f"SELECT COUNT(*) AS n FROM {table} WHERE user_id = %s{active}", (user_id,)
    )


async def graph_rows(conn: Conn, user_id: str, *, include_expired: bool, limit: int) -> GraphRows:
    """At most ``limit`` nodes of the caller's tree (composites first) and their member links."""
    composites = await _node_rows(conn, user_id, "composite", include_expired, limit)
    records = await _node_rows(conn, user_id, "record", include_expired, limit - len(composites))
    return GraphRows(
        nodes=[*composites, *records],
        links=await _links(conn, user_id, [node.item_id for node in composites]),
        record_total=await _total(conn, "memory_records", user_id, include_expired),
        composite_total=await _total(conn, "composite_records", user_id, include_expired),
    )


_EDGES = (
    "SELECT COUNT(*) AS n FROM composite_members m"
    " JOIN composite_records c ON c.composite_id = m.composite_id AND NOT c.expired"
    " LEFT JOIN memory_records r ON m.member_kind = 'record' AND r.record_id = m.member_id"
    " LEFT JOIN composite_records k"
    "  ON m.member_kind = 'composite' AND k.composite_id = m.member_id"
    " WHERE m.user_id = %s AND m.direct AND NOT COALESCE(r.expired, k.expired)"
)


async def status_counts(conn: Conn, user_id: str) -> dict[str, int]:
    """The caller's counts of ``GET /pipeline/status`` (jobs excluded)."""
    one = (user_id,)
    records = await _total(conn, "memory_records", user_id, include_expired=False)
    composites = await _total(conn, "composite_records", user_id, include_expired=False)
    return {
        "session_count": await _scalar(
            conn, "SELECT COUNT(*) AS n FROM sessions WHERE user_id = %s", one
        ),
        "graph_node_count": records + composites,
        "graph_edge_count": await _scalar(conn, _EDGES, one),
        "skill_count": await _scalar(
            conn, "SELECT COUNT(*) AS n FROM skills WHERE user_id = %s", one
        ),
        "record_count": records,
        "composite_count": composites,
        "expired_record_count": await _scalar(
            conn, "SELECT COUNT(*) AS n FROM memory_records WHERE user_id = %s AND expired", one
        ),
    }


async def list_skills(
    conn: Conn, user_id: str, *, groups: list[str] | None, runs: list[str], offset: int, limit: int
) -> tuple[list[Skill], int]:
    """The caller's skills (newest update first), optionally full-text filtered, and the total."""
    where = "user_id = %s"
    params: list[Any] = [user_id]
    if groups is not None:
        match, more = text_match("skills", groups, runs)
        where += f" AND {match}"
        params.extend(more)
    total = await _scalar(conn, f"SELECT COUNT(*) AS n FROM skills WHERE {where}", params)
    cur = await conn.execute(
        f"SELECT {SKILL_COLUMNS} FROM skills WHERE {where}"
        ' ORDER BY updated_at DESC, skill_id COLLATE "C" LIMIT %s OFFSET %s',
        [*params, limit, offset],
    )
    return [skill_from_row(row) for row in await cur.fetchall()], total
