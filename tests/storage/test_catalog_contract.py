"""What any ``CatalogStore`` must do, run against SQLite/LanceDB and PostgreSQL/pgvector.

Two tenants get the same seed (tests/storage/backend_support.py); every assertion on one of
them is paired with a check that the other tenant's memory is exactly as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from backend_support import Backend, Seeded, at, backend, seed, vector_ids

from lycheemem.domain.models import BatchCommit, Skill
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.deletes import TENANT_TABLES
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio
__all__ = ["backend"]  # the fixture, imported for pytest


async def _both(b: Backend) -> tuple[Seeded, Seeded]:
    return await seed(b, "alice"), await seed(b, "bob")


async def _list(b: Backend, user: str, **overrides: Any) -> tuple[list[str], int]:
    options: dict[str, Any] = {
        "kind": "all",
        "memory_type": None,
        "session_id": None,
        "include_expired": False,
        "q": None,
        "order": "updated_desc",
        "offset": 0,
        "limit": 50,
    }
    options.update(overrides)
    items, total = await b.catalog.list_items(user, **options)
    return [item.item_id for item in items], total


async def test_list_items_filters_orders_and_pages(backend: Backend) -> None:
    a, _ = await _both(backend)
    everything = [a.outer, a.inner, a.running, a.lisbon, a.tea, a.deploy]
    assert await _list(backend, "alice") == (everything, 6)
    assert await _list(backend, "alice", include_expired=True) == ([*everything, a.old], 7)
    assert await _list(backend, "alice", kind="record") == (everything[2:], 4)
    assert await _list(backend, "alice", kind="composite") == ([a.outer, a.inner], 2)
    assert await _list(backend, "alice", memory_type="preference") == ([a.running], 1)
    assert await _list(backend, "alice", session_id="s2") == ([a.running, a.lisbon], 2)
    assert await _list(backend, "alice", order="created_asc", offset=1, limit=2) == (
        [a.tea, a.lisbon],
        6,
    )
    assert await _list(backend, "alice", order="created_desc", limit=1) == ([a.outer], 6)


async def test_list_items_full_text_filter(backend: Backend) -> None:
    a, b = await _both(backend)
    found, total = await _list(backend, "alice", q="green tea")
    assert set(found) == {a.tea, a.inner} and total == 2
    found, _ = await _list(backend, "alice", q="deploy", kind="record")  # stemmed: "Deploys"
    assert found == [a.deploy]
    assert await _list(backend, "alice", q="?!") == ([], 0)
    assert await _list(backend, "alice", q="submarine") == ([], 0)
    found, _ = await _list(backend, "bob", q="green tea")
    assert set(found) == {b.tea, b.inner}
    apple = make_record("alice", "我喜欢吃苹果", created_at=at(20))
    await backend.semantic.commit_batch(
        BatchCommit(user_id="alice", session_id="s1", records=[apple], watermark=1, now=at(20))
    )
    assert await _list(backend, "alice", q="苹果") == ([apple.record_id], 1)
    assert await _list(backend, "bob", q="苹果") == ([], 0)


async def test_item_relations_give_parents_and_direct_records(backend: Backend) -> None:
    a, b = await _both(backend)
    relations = backend.catalog.item_relations
    deploy = await relations("alice", a.deploy)
    assert deploy.item.item_id == a.deploy and deploy.parents == [a.inner]
    assert deploy.direct_record_ids == []
    assert (await relations("alice", a.lisbon)).parents == [a.outer]
    inner = await relations("alice", a.inner)
    assert inner.parents == [a.outer] and inner.direct_record_ids == [a.tea, a.deploy]
    outer = await relations("alice", a.outer)
    assert outer.parents == [] and outer.direct_record_ids == [a.lisbon]
    assert await relations("alice", b.deploy) is None
    assert await relations("alice", "missing") is None


async def test_delete_item_takes_every_composite_above_it(backend: Backend) -> None:
    a, b = await _both(backend)
    bob_before = await _list(backend, "bob", include_expired=True)
    assert await backend.catalog.delete_item("alice", b.tea) == ([], [])
    records, composites = await backend.catalog.delete_item("alice", a.tea)
    assert records == [a.tea] and set(composites) == {a.inner, a.outer}
    assert await _list(backend, "alice") == ([a.running, a.lisbon, a.deploy], 3)
    assert (await backend.catalog.item_relations("alice", a.deploy)).parents == []
    assert (await backend.catalog.graph("alice", include_expired=False, limit=10)).links == []
    assert await backend.catalog.delete_item("alice", a.tea) == ([], [])
    assert await _list(backend, "bob", include_expired=True) == bob_before
    records, composites = await backend.catalog.delete_item("bob", b.inner)
    assert records == [] and set(composites) == {b.inner, b.outer}


async def test_graph_rows_composites_first_then_newest_records(backend: Backend) -> None:
    a, _ = await _both(backend)
    graph = await backend.catalog.graph("alice", include_expired=False, limit=100)
    assert [n.item_id for n in graph.nodes] == [
        a.outer,
        a.inner,
        a.running,
        a.lisbon,
        a.tea,
        a.deploy,
    ]
    outer = graph.nodes[0]
    assert (outer.node_kind, outer.level, outer.child_composite_ids) == ("composite", 2, [a.inner])
    assert outer.source_record_ids == [a.deploy, a.tea, a.lisbon]
    running = graph.nodes[2]
    assert (running.node_kind, running.memory_type, running.expired) == (
        "record",
        "preference",
        False,
    )
    assert running.semantic_text == "Runs every morning before work"
    assert running.confidence == pytest.approx(0.7) and running.created_at == at(4)
    links = {(k.composite_id, k.member_id, k.member_kind, k.direct) for k in graph.links}
    assert links == {
        (a.inner, a.tea, "record", True),
        (a.inner, a.deploy, "record", True),
        (a.outer, a.deploy, "record", False),
        (a.outer, a.tea, "record", False),
        (a.outer, a.lisbon, "record", True),
        (a.outer, a.inner, "composite", True),
    }
    assert (graph.record_total, graph.composite_total) == (4, 2)
    wide = await backend.catalog.graph("alice", include_expired=True, limit=100)
    assert wide.nodes[-1].item_id == a.old and wide.nodes[-1].expired
    assert wide.record_total == 5
    short = await backend.catalog.graph("alice", include_expired=False, limit=3)
    assert [n.item_id for n in short.nodes] == [a.outer, a.inner, a.running]
    assert (short.record_total, short.composite_total) == (4, 2)


async def test_status_counts(backend: Backend) -> None:
    await _both(backend)
    expected = {
        "session_count": 2,
        "graph_node_count": 6,
        "graph_edge_count": 4,  # direct links between active items
        "skill_count": 1,
        "record_count": 4,
        "composite_count": 2,
        "expired_record_count": 1,
    }
    assert await backend.catalog.status_counts("alice") == expected
    assert await backend.catalog.status_counts("nobody") == dict.fromkeys(expected, 0)


async def test_clear_graph_leaves_skills_sessions_and_other_tenants(backend: Backend) -> None:
    a, b = await _both(backend)
    bob_before = await backend.tenant_rows("bob")
    records, composites, logs = await backend.catalog.clear_graph("alice")
    assert set(records) == {*a.active_records, a.old}
    assert set(composites) == {a.inner, a.outer} and logs == 1
    assert await _list(backend, "alice", include_expired=True) == ([], 0)
    counts = await backend.catalog.status_counts("alice")
    assert (counts["record_count"], counts["skill_count"], counts["session_count"]) == (0, 1, 2)
    assert await backend.usage.get("alice", a.log) is None
    assert await backend.tenant_rows("bob") == bob_before
    assert await backend.usage.get("bob", b.log) is not None


async def test_skills_list_filter_delete_and_clear(backend: Backend) -> None:
    a, b = await _both(backend)
    newer = Skill("skill-alice-2", "alice", "brew green tea", "1. boil", at(30), at(30))
    await backend.semantic.commit_batch(
        BatchCommit(user_id="alice", session_id="s1", skills=[newer], watermark=1, now=at(30))
    )
    skills, total = await backend.catalog.list_skills("alice", q=None, offset=0, limit=10)
    assert [s.skill_id for s in skills] == [newer.skill_id, a.skill] and total == 2
    skills, total = await backend.catalog.list_skills("alice", q=None, offset=1, limit=10)
    assert [s.skill_id for s in skills] == [a.skill] and total == 2
    skills, total = await backend.catalog.list_skills("alice", q="deploy", offset=0, limit=10)
    assert [s.skill_id for s in skills] == [a.skill] and total == 1
    assert await backend.catalog.list_skills("alice", q="?!", offset=0, limit=10) == ([], 0)
    assert await backend.catalog.delete_skill("alice", b.skill) is False
    assert await backend.catalog.delete_skill("alice", a.skill) is True
    assert await backend.catalog.delete_skill("alice", a.skill) is False
    assert await backend.catalog.clear_skills("alice") == [newer.skill_id]
    assert await backend.catalog.list_skills("alice", q=None, offset=0, limit=10) == ([], 0)
    bob_skills, _ = await backend.catalog.list_skills("bob", q=None, offset=0, limit=10)
    assert [s.skill_id for s in bob_skills] == [b.skill]


async def test_delete_tenant_leaves_nothing_of_it_and_touches_no_one_else(backend: Backend) -> None:
    a, b = await _both(backend)
    bob_rows = await backend.tenant_rows("bob")
    bob_counts = await backend.catalog.status_counts("bob")
    gone = await backend.catalog.delete_tenant("alice")
    assert set(gone.record_ids) == {*a.active_records, a.old}
    assert set(gone.composite_ids) == {a.inner, a.outer}
    assert gone.skill_ids == [a.skill] and sorted(gone.session_ids) == ["s1", "s2"]
    assert (gone.turns, gone.usage_logs, gone.jobs) == (3, 1, 1)
    if backend.name == "postgres":  # the vectors share the transaction there
        assert await vector_ids(backend, "memory_records", "alice", a.active_records) == set()
    await backend.vectors.delete_user("alice")  # what ManagementService.delete_all does next
    leftovers = {table: n for table, n in (await backend.tenant_rows("alice")).items() if n}
    assert leftovers == {}
    for table in ("memory_records", "composite_records", "skills"):
        assert await backend.vectors.count(table, "alice") == 0
    assert await backend.tenant_rows("bob") == bob_rows
    assert await backend.catalog.status_counts("bob") == bob_counts
    assert await vector_ids(backend, "memory_records", "bob", b.active_records) == set(
        b.active_records
    )
    assert (await backend.jobs.get("bob", b.job)) is not None


async def test_postgres_delete_tenant_knows_every_tenant_table(pg_url: str) -> None:
    """A table added to the PostgreSQL schema with a ``user_id`` must be added to what
    ``delete_tenant`` empties (on SQLite the leftovers test above counts every table)."""
    db = PgDatabase(pg_url, max_size=1)
    await db.open()
    try:
        async with db.owner() as conn:
            cur = await conn.execute(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = 'user_id'"
            )
            tables = {row["table_name"] for row in await cur.fetchall()} - {"users"}
    finally:
        await db.close()
    assert tables and tables <= set(TENANT_TABLES), tables - set(TENANT_TABLES)
