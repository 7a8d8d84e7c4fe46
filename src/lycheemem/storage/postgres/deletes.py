"""The deletes that span several tables of one tenant on PostgreSQL, as
``storage/sqlite/deletes.py`` does on SQLite: one item with the composites above it, the whole
graph, the skills, what one session taught, and the whole tenant.

Async functions of a connection inside one ``PgDatabase.tenant(user_id)`` transaction; every
statement filters on ``user_id``. The vectors live in the same database here, so each delete
also removes the deleted rows' vectors in the same transaction (the caller's later
``VectorIndex.delete`` finds nothing left): no crash can leave an orphan vector behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from lycheemem.domain.models import MemoryRecord, SourceRef
from lycheemem.domain.ports import TenantDeletion
from lycheemem.storage.postgres.catalog_sql import fetch_items
from lycheemem.storage.postgres.database import Conn
from lycheemem.storage.postgres.semantic_rows import (
    RECORD_COLUMNS,
    fetch_by_ids,
    record_from_row,
)
from lycheemem.storage.postgres.semantic_search import ancestors

__all__ = [
    "LONGDOC_TABLES",
    "TENANT_TABLES",
    "clear_graph_rows",
    "clear_skill_rows",
    "delete_items",
    "delete_skill_row",
    "delete_tenant_rows",
    "forget_session_items",
]

LONGDOC_TABLES = ("longdoc_chunk_vectors", "longdoc_chunks", "longdoc_documents")
"""Long-document tables (migration 0005): a tenant's rows go with it when they exist."""
TENANT_TABLES = (
    "memory_records",
    "composite_records",
    "composite_members",
    "memory_tags",
    "item_sessions",
    "usage_logs",
    "skills",
    "consolidation_skips",
    "summaries",
    "turns",
    "sessions",
    "jobs",
    "vectors",
    *LONGDOC_TABLES,
)
"""Every table ``delete_tenant_rows`` empties of the tenant; adding a table here is what makes
it go (a test checks that no other table has a ``user_id`` column, ``users`` aside: the account
is ``UserStore.delete``'s)."""


async def _returning(conn: Conn, sql: str, params: Sequence[object]) -> list[str]:
    cur = await conn.execute(sql, params)
    return [next(iter(row.values())) for row in await cur.fetchall()]


async def _drop_vectors(conn: Conn, kind: str, user_id: str, ids: Sequence[str]) -> None:
    if ids:
        await conn.execute(
            "DELETE FROM vectors WHERE kind = %s AND user_id = %s AND item_id = ANY(%s)",
            (kind, user_id, list(ids)),
        )


async def delete_items(
    conn: Conn, user_id: str, record_ids: Sequence[str], composite_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Hard-delete items plus every composite containing them; returns the deleted ids."""
    doomed = set(composite_ids) | await ancestors(conn, user_id, [*record_ids, *composite_ids])
    records = await _returning(
        conn,
        "DELETE FROM memory_records WHERE user_id = %s AND record_id = ANY(%s) RETURNING record_id",
        (user_id, list(record_ids)),
    )
    composites = await _returning(
        conn,
        "DELETE FROM composite_records WHERE user_id = %s AND composite_id = ANY(%s)"
        " RETURNING composite_id",
        (user_id, sorted(doomed)),
    )
    gone = [*records, *composites]
    if gone or doomed:
        await conn.execute(
            "DELETE FROM composite_members WHERE user_id = %s"
            " AND (composite_id = ANY(%s) OR member_id = ANY(%s))",
            (user_id, sorted(doomed), gone),
        )
        for table in ("memory_tags", "item_sessions"):
            await conn.execute(
                f"DELETE FROM {table} WHERE user_id = %s AND item_id = ANY(%s)", (user_id, gone)
            )
    await _drop_vectors(conn, "memory_records", user_id, records)
    await _drop_vectors(conn, "composite_records", user_id, composites)
    return records, composites


async def clear_graph_rows(conn: Conn, user_id: str) -> tuple[list[str], list[str], int]:
    """Delete the caller's records, composites, tags, links, usage logs and their vectors.

    Returns ``(record_ids, composite_ids, usage_logs_deleted)``.
    """
    one = (user_id,)
    records = await _returning(
        conn, "DELETE FROM memory_records WHERE user_id = %s RETURNING record_id", one
    )
    composites = await _returning(
        conn, "DELETE FROM composite_records WHERE user_id = %s RETURNING composite_id", one
    )
    for table in ("composite_members", "memory_tags", "item_sessions"):
        await conn.execute(f"DELETE FROM {table} WHERE user_id = %s", one)
    cur = await conn.execute("DELETE FROM usage_logs WHERE user_id = %s", one)
    await conn.execute(
        "DELETE FROM vectors WHERE user_id = %s"
        " AND kind IN ('memory_records', 'composite_records')",
        one,
    )
    return records, composites, cur.rowcount


async def clear_skill_rows(conn: Conn, user_id: str) -> list[str]:
    """Delete every skill of the caller (and their vectors); returns their ids."""
    ids = await _returning(
        conn, "DELETE FROM skills WHERE user_id = %s RETURNING skill_id", (user_id,)
    )
    await conn.execute("DELETE FROM vectors WHERE user_id = %s AND kind = 'skills'", (user_id,))
    return ids


async def delete_skill_row(conn: Conn, user_id: str, skill_id: str) -> bool:
    """Delete one of the caller's skills (and its vector); False when there is no such skill."""
    cur = await conn.execute(
        "DELETE FROM skills WHERE user_id = %s AND skill_id = %s", (user_id, skill_id)
    )
    await _drop_vectors(conn, "skills", user_id, [skill_id])
    return cur.rowcount > 0


async def _delete_tenant_jobs(conn: Conn, user_id: str) -> int:
    """Delete the caller's jobs; running ones are only flagged for cancellation."""
    deleted = await conn.execute(
        "DELETE FROM jobs WHERE user_id = %s AND status <> 'running'", (user_id,)
    )
    flagged = await conn.execute(
        "UPDATE jobs SET cancel_requested = true WHERE user_id = %s AND status = 'running'",
        (user_id,),
    )
    return deleted.rowcount + flagged.rowcount


async def _present(conn: Conn, table: str) -> bool:
    cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (table,))
    row = await cur.fetchone()
    return bool(row and row["present"])


async def _sweep(conn: Conn, user_id: str) -> None:
    """Delete the tenant's rows from every table of ``TENANT_TABLES`` (jobs aside: running
    ones stay flagged); the long-document tables only where they exist."""
    for table in TENANT_TABLES:
        if table == "jobs" or (table in LONGDOC_TABLES and not await _present(conn, table)):
            continue
        await conn.execute(f"DELETE FROM {table} WHERE user_id = %s", (user_id,))


async def delete_tenant_rows(conn: Conn, user_id: str) -> TenantDeletion:
    """Delete every row of the caller in ``TENANT_TABLES``: memory, skills, sessions with
    their turns, summaries and skipped turns, usage logs, jobs (running ones flagged),
    vectors and long documents."""
    records, composites, logs = await clear_graph_rows(conn, user_id)
    skills = await clear_skill_rows(conn, user_id)
    one = (user_id,)
    cur = await conn.execute("SELECT COUNT(*) AS n FROM turns WHERE user_id = %s", one)
    row = await cur.fetchone()
    sessions = await _returning(
        conn, "DELETE FROM sessions WHERE user_id = %s RETURNING session_id", one
    )
    jobs = await _delete_tenant_jobs(conn, user_id)
    await _sweep(conn, user_id)
    return TenantDeletion(
        record_ids=records,
        composite_ids=composites,
        skill_ids=skills,
        session_ids=sessions,
        turns=int(row["n"]) if row else 0,
        usage_logs=logs,
        jobs=jobs,
    )


def _without_session(sources: Sequence[SourceRef], session_id: str) -> list[SourceRef]:
    return [source for source in sources if source.session_id != session_id]


def _keeps_other_source(record: MemoryRecord, session_id: str) -> bool:
    if _without_session(record.sources, session_id):
        return True
    return record.source_session_id not in (None, session_id)


async def _strip_record(conn: Conn, record: MemoryRecord, session_id: str) -> None:
    """Remove ``session_id`` from a record that keeps other sources."""
    remaining = _without_session(record.sources, session_id)
    first = record.source_session_id
    turn_ids, turn_refs = record.source_turn_ids, record.source_turn_refs
    if first == session_id:
        heir = remaining[0]
        first, turn_ids, turn_refs = heir.session_id, heir.turn_ids, heir.turn_refs
    await conn.execute(
        "UPDATE memory_records SET sources = %s, source_session_id = %s, source_turn_ids = %s,"
        " source_turn_refs = %s WHERE user_id = %s AND record_id = %s",
        (
            Jsonb([s.as_dict() for s in remaining]),
            first,
            Jsonb(turn_ids),
            Jsonb(turn_refs),
            record.user_id,
            record.record_id,
        ),
    )


async def _session_item_ids(conn: Conn, user_id: str, session_id: str) -> list[str]:
    return await _returning(
        conn,
        "SELECT item_id FROM item_sessions WHERE user_id = %s AND session_id = %s"
        " UNION SELECT record_id FROM memory_records"
        " WHERE user_id = %s AND source_session_id = %s",
        (user_id, session_id, user_id, session_id),
    )


async def forget_session_items(
    conn: Conn, user_id: str, session_id: str
) -> tuple[list[str], list[str]]:
    """Forget what a session taught: returns the deleted ``(record_ids, composite_ids)``.

    Records sourced only from the session are deleted with every composite that covers them
    (ancestors included); records and surviving composites with other sources lose the
    session from ``sources`` and from ``item_sessions``.
    """
    ids = await _session_item_ids(conn, user_id, session_id)
    rows = await fetch_by_ids(conn, "memory_records", "record_id", RECORD_COLUMNS, user_id, ids)
    records = [record_from_row(row) for row in rows]
    doomed = [r.record_id for r in records if not _keeps_other_source(r, session_id)]
    for record in records:
        if record.record_id not in doomed:
            await _strip_record(conn, record, session_id)
    deleted_records, deleted_composites = await delete_items(conn, user_id, doomed, [])
    gone = set(deleted_composites)
    survivors = await fetch_items(conn, user_id, [], [i for i in ids if i not in gone])
    for composite in survivors.values():
        remaining = _without_session(composite.sources, session_id)
        await conn.execute(
            "UPDATE composite_records SET sources = %s WHERE user_id = %s AND composite_id = %s",
            (Jsonb([s.as_dict() for s in remaining]), user_id, composite.item_id),
        )
    await conn.execute(
        "DELETE FROM item_sessions WHERE user_id = %s AND session_id = %s", (user_id, session_id)
    )
    return deleted_records, deleted_composites
