"""The recall channels on PostgreSQL: full text, tags, time windows, follow-up turns, and the
composite tree walks (covering, expiry). Plain functions of a tenant connection; every
statement filters on ``user_id`` (row-level security is the second wall).

Full text (docs/DECISIONS.md, "PostgreSQL full text"): the query's term groups
(``domain.text.terms.kept_fts_groups``, as on SQLite) become ``phraseto_tsquery('english', g)``
OR-ed (or AND-ed); matches are ranked BM25-like: per group, an IDF from the group's document
count among the tenant's matches times ``ts_rank`` (text weight 1.0, tags 0.5, length
normalised), summed. A CJK query whose tokens find too little is topped up by substring
matches of its CJK runs (pg_trgm index). Candidates come from the ``*_matching`` and
``*_containing`` functions of migration 0004, so the GIN indexes work under row-level
security (see there); rows are then read by id as the app role.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from lycheemem.domain.ports import FtsHit
from lycheemem.domain.text.terms import is_cjk
from lycheemem.storage.postgres.database import Conn

__all__ = [
    "cjk_runs",
    "covering_composites",
    "expire_covering",
    "follow_up_ids",
    "fts_search",
    "like_search",
    "tag_search",
    "temporal_search",
    "term_counts",
]

_ID_COLUMN = {"memory_records": "record_id", "composite_records": "composite_id"}
# ts_rank weights {D, C, B, A}: text is A (1.0), tags B (0.5) as SQLite's bm25(1.0, 0.5).
_WEIGHTS = "{0, 0, 0.5, 1.0}"
# ts_rank normalisation 1: divide by 1 + log(document length), BM25's length penalty in spirit.
_NORMALISE = 1


def _id_column(table: str) -> str:
    """The item id column of a searchable table (anything else is a programming error)."""
    try:
        return _ID_COLUMN[table]
    except KeyError:
        raise ValueError(f"not a searchable table: {table!r}") from None


def _group_query(count: int, *, conjunctive: bool) -> str:
    """``count`` bound groups joined into one tsquery: OR-ed, or AND-ed if ``conjunctive``."""
    op = " && " if conjunctive else " || "
    return "(" + op.join(["phraseto_tsquery('english', %s)"] * count) + ")"


def _type_filter(memory_types: Sequence[str] | None) -> tuple[str, list[Any]]:
    if not memory_types:
        return "", []
    return " AND memory_type = ANY(%s)", [list(memory_types)]


async def fts_search(
    conn: Conn,
    *,
    table: str,
    user_id: str,
    groups: Sequence[str],
    limit: int,
    memory_types: Sequence[str] | None = None,
    conjunctive: bool = False,
    newest_first: bool = False,
) -> list[FtsHit]:
    """The caller's active items of ``table`` matching the groups, best first (ties: oldest
    row first, as FTS5's rowid order); ``newest_first`` returns the newest matches instead."""
    if limit <= 0 or not groups:
        return []
    id_column = _id_column(table)
    match = _group_query(len(groups), conjunctive=conjunctive)
    types, type_params = _type_filter(memory_types)
    if newest_first:
        cur = await conn.execute(
            f"SELECT {id_column} AS item_id FROM {table} WHERE user_id = %s AND NOT expired"
            f" AND id = ANY(ARRAY(SELECT {table}_matching({match}))){types}"
            " ORDER BY id DESC LIMIT %s",
            [user_id, *groups, *type_params, limit],
        )
        return [FtsHit(row["item_id"], rank) for rank, row in enumerate(await cur.fetchall())]
    one = "phraseto_tsquery('english', %s)"
    counts = ", ".join(f"count(*) FILTER (WHERE fts @@ {one}) AS d{i}" for i in range(len(groups)))
    score = " + ".join(
        f"ln(1 + (d.n - d.d{i} + 0.5) / (d.d{i} + 0.5))"
        f" * ts_rank('{_WEIGHTS}', m.fts, {one}, {_NORMALISE})"
        for i in range(len(groups))
    )
    # The matches are read once (expired ones too: they count in the statistics, as in an
    # FTS5 index); the group counts and the ranking reuse them.
    cur = await conn.execute(
        f"WITH m AS MATERIALIZED (SELECT id, {id_column} AS item_id, fts, expired, memory_type"
        f" FROM {table} WHERE user_id = %s AND id = ANY(ARRAY(SELECT {table}_matching({match})))),"
        f" d AS (SELECT count(*)::float8 AS n, {counts} FROM m)"
        f" SELECT m.item_id FROM m, d WHERE NOT m.expired{types}"
        f" ORDER BY {score} DESC, m.id LIMIT %s",
        [user_id, *groups, *groups, *type_params, *groups, limit],
    )
    return [FtsHit(row["item_id"], rank) for rank, row in enumerate(await cur.fetchall())]


def cjk_runs(groups: Iterable[str]) -> list[str]:
    """The CJK text each CJK group stands for: bigrams ``"喜欢 欢吃"`` rejoined as ``"喜欢吃"``."""
    runs: list[str] = []
    for group in groups:
        if not is_cjk(group):
            continue
        parts = group.split()
        runs.append(parts[0] + "".join(part[-1:] for part in parts[1:]))
    return runs


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def like_search(
    conn: Conn,
    *,
    table: str,
    user_id: str,
    runs: Sequence[str],
    limit: int,
    exclude: Sequence[str],
    memory_types: Sequence[str] | None = None,
) -> list[str]:
    """Newest active items whose text contains any of ``runs`` (the CJK fallback; runs of three
    or more characters use the pg_trgm index), ``exclude`` left out."""
    if limit <= 0 or not runs:
        return []
    id_column = _id_column(table)
    types, type_params = _type_filter(memory_types)
    cur = await conn.execute(
        f"SELECT {id_column} AS item_id FROM {table} WHERE user_id = %s AND NOT expired"
        f" AND id = ANY(ARRAY(SELECT {table}_containing(%s::text[])))"
        f" AND NOT ({id_column} = ANY(%s)){types} ORDER BY id DESC LIMIT %s",
        [user_id, [_like_pattern(r) for r in runs], list(exclude), *type_params, limit],
    )
    return [row["item_id"] for row in await cur.fetchall()]


async def term_counts(conn: Conn, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
    """The caller's active record count and, per term, how many records (expired included)
    contain it; one statement."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM memory_records WHERE user_id = %s AND NOT expired", (user_id,)
    )
    row = await cur.fetchone()
    total = int(row["n"]) if row else 0
    unique = list(dict.fromkeys(terms))
    if not unique:
        return total, {}
    one = "phraseto_tsquery('english', %s)"
    counts = ", ".join(f"count(*) FILTER (WHERE fts @@ {one}) AS c{i}" for i in range(len(unique)))
    cur = await conn.execute(
        f"SELECT {counts} FROM memory_records WHERE user_id = %s AND id = ANY(ARRAY("
        f"SELECT memory_records_matching({_group_query(len(unique), conjunctive=False)})))",
        [*unique, user_id, *unique],
    )
    row = await cur.fetchone()
    found = {term: int(row[f"c{i}"]) if row else 0 for i, term in enumerate(unique)}
    return total, {term: found[term] for term in terms}


async def covering_composites(
    conn: Conn, user_id: str, member_ids: Sequence[str], *, active_only: bool = True
) -> dict[str, list[str]]:
    """For each member id, the composites that contain it (directly or as a leaf)."""
    if not member_ids:
        return {}
    sql = (
        "SELECT m.member_id, m.composite_id FROM composite_members m"
        " JOIN composite_records c ON c.composite_id = m.composite_id AND c.user_id = m.user_id"
        " WHERE m.user_id = %s AND m.member_id = ANY(%s)"
    )
    if active_only:
        sql += " AND NOT c.expired"
    cur = await conn.execute(sql, (user_id, list(member_ids)))
    result: dict[str, list[str]] = {}
    for row in await cur.fetchall():
        result.setdefault(row["member_id"], []).append(row["composite_id"])
    return result


async def ancestors(conn: Conn, user_id: str, ids: Iterable[str]) -> set[str]:
    """Every composite above ``ids`` in the tree, expired ones included."""
    found: set[str] = set()
    frontier = set(ids)
    while frontier:
        parents = await covering_composites(conn, user_id, sorted(frontier), active_only=False)
        new = {p for plist in parents.values() for p in plist} - found
        found |= new
        frontier = new
    return found


async def expire_covering(
    conn: Conn, user_id: str, item_ids: Iterable[str], *, reason: str, now: str
) -> list[str]:
    """Expire every active composite that covers any of ``item_ids``, ancestors included."""
    doomed = sorted(await ancestors(conn, user_id, item_ids))
    if not doomed:
        return []
    cur = await conn.execute(
        "UPDATE composite_records SET expired = true, expired_at = %s, expired_reason = %s,"
        " updated_at = %s WHERE user_id = %s AND NOT expired AND composite_id = ANY(%s)"
        " RETURNING composite_id",
        (now, reason, now, user_id, doomed),
    )
    return sorted(row["composite_id"] for row in await cur.fetchall())


async def tag_search(
    conn: Conn,
    user_id: str,
    wanted: dict[str, Sequence[str]],
    limit: int,
    max_per_tag: int = 200,
) -> list[tuple[str, str, set[str]]]:
    """Active items whose tags equal any wanted value, ranked by the number of kinds matched
    (then matches, then id); a tag on more than ``max_per_tag`` items is skipped, as on SQLite."""
    pairs = sorted(
        {
            (kind, " ".join(v.casefold().split()))
            for kind, values in wanted.items()
            for v in values
            if v.strip()
        }
    )
    if not pairs or limit <= 0:
        return []
    kinds, tags = [p[0] for p in pairs], [p[1] for p in pairs]
    cur = await conn.execute(
        "SELECT w.kind, w.tag FROM unnest(%s::text[], %s::text[]) AS w(kind, tag)"
        " WHERE (SELECT count(*) FROM (SELECT 1 FROM memory_tags WHERE user_id = %s"
        " AND tag_kind = w.kind AND tag = w.tag LIMIT %s) x) <= %s",
        (kinds, tags, user_id, max_per_tag + 1, max_per_tag),
    )
    kept = await cur.fetchall()
    if not kept:
        return []
    cur = await conn.execute(
        "SELECT item_id, item_kind, array_agg(tag) AS tags FROM memory_tags"
        " WHERE user_id = %s AND (tag_kind, tag) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[]))"
        " GROUP BY item_id, item_kind ORDER BY COUNT(DISTINCT tag_kind) DESC, COUNT(*) DESC,"
        " item_id LIMIT %s",
        (user_id, [r["kind"] for r in kept], [r["tag"] for r in kept], limit * 2),
    )
    hits = [(r["item_id"], r["item_kind"], set(r["tags"])) for r in await cur.fetchall()]
    active = await _active_ids(conn, user_id, hits)
    return [hit for hit in hits if hit[0] in active][:limit]


async def _active_ids(conn: Conn, user_id: str, hits: list[tuple[str, str, set[str]]]) -> set[str]:
    cur = await conn.execute(
        "SELECT record_id AS item_id FROM memory_records WHERE user_id = %s AND NOT expired"
        " AND record_id = ANY(%s) UNION ALL SELECT composite_id FROM composite_records"
        " WHERE user_id = %s AND NOT expired AND composite_id = ANY(%s)",
        (
            user_id,
            [h[0] for h in hits if h[1] == "record"],
            user_id,
            [h[0] for h in hits if h[1] == "composite"],
        ),
    )
    return {row["item_id"] for row in await cur.fetchall()}


async def temporal_search(
    conn: Conn, user_id: str, since: str, until: str, limit: int
) -> list[tuple[str, str]]:
    """Active items whose event interval (else ``created_at``) overlaps [since, until]: latest
    event first, then undated items newest first (the three index ranges of SQLite's 0004)."""
    day = since[:10]
    found: list[tuple[str, str]] = []
    for table, column, kind in (
        ("memory_records", "record_id", "record"),
        ("composite_records", "composite_id", "composite"),
    ):
        active = (
            f"SELECT {column} AS item_id, event_start FROM {table}"
            " WHERE user_id = %s AND NOT expired"
        )
        cur = await conn.execute(
            f"{active} AND event_start BETWEEN %s AND %s"
            " AND COALESCE(event_end, event_start) >= %s ORDER BY event_start DESC LIMIT %s",
            (user_id, day, until, since, limit),
        )
        starting = await cur.fetchall()
        cur = await conn.execute(
            f"{active} AND event_end >= %s AND event_start < %s"
            " AND substr(event_end, 1, 10) <> substr(event_start, 1, 10)"
            " ORDER BY event_start DESC LIMIT %s",
            (user_id, since, day, limit),
        )
        spanning = await cur.fetchall()
        unique = {row["item_id"]: row for row in [*starting, *spanning]}
        events = sorted(unique.values(), key=lambda row: row["event_start"], reverse=True)
        cur = await conn.execute(
            f"SELECT {column} AS item_id FROM {table} WHERE user_id = %s AND NOT expired"
            " AND event_start IS NULL AND created_at BETWEEN %s AND %s"
            " ORDER BY created_at DESC LIMIT %s",
            (user_id, since, until, limit),
        )
        undated = await cur.fetchall()
        found.extend((row["item_id"], kind) for row in [*events, *undated][:limit])
    return found[:limit]


async def follow_up_ids(
    conn: Conn, user_id: str, session_id: str, after_turn: int, turns: int, limit: int
) -> list[str]:
    """Active records first said in the ``turns`` turns after ``after_turn`` of a session, in
    turn order (index ``memory_records_by_turn``)."""
    cur = await conn.execute(
        "SELECT record_id FROM memory_records WHERE user_id = %s AND source_session_id = %s"
        " AND (source_turn_ids -> 0) BETWEEN to_jsonb(%s::int) AND to_jsonb(%s::int)"
        " AND NOT expired ORDER BY (source_turn_ids -> 0), id LIMIT %s",
        (user_id, session_id, after_turn + 1, after_turn + turns, limit),
    )
    return [row["record_id"] for row in await cur.fetchall()]
