"""Reconciliation over the ports, on SQLite/LanceDB and PostgreSQL/pgvector alike: rows a
crash left unindexed get their vectors (and only they are embedded again), vectors whose rows
are gone are dropped, and a second pass finds nothing to do."""

from __future__ import annotations

import numpy as np
import pytest
from backend_support import DIM, Backend, backend, seed, vector_ids

from lycheemem.consolidation.reconcile import ReconcileReport, reconcile
from lycheemem.domain.models import VectorRow
from lycheemem.domain.ports import VECTOR_TABLES
from lycheemem.testing import HashingEmbedder

pytestmark = pytest.mark.anyio
__all__ = ["backend"]  # the fixture, imported for pytest


def _ghost(item_id: str, user_id: str) -> VectorRow:
    unit = np.ones(DIM, dtype=np.float32)
    return VectorRow(item_id, user_id, unit, unit)


async def test_reconcile_repairs_a_crash_on_every_backend(backend: Backend) -> None:
    a = await seed(backend, "alice")
    b = await seed(backend, "bob")
    # The crash: two of alice's records and bob's skill committed unindexed, their vectors
    # never written; a row deleted whose vector stayed; vectors of rows that never existed.
    lost = [a.tea, a.running]
    await backend.vectors.delete("memory_records", "alice", lost)
    await backend.vectors.delete("skills", "bob", [b.skill])
    await backend.execute(
        f"UPDATE memory_records SET indexed = FALSE WHERE record_id IN ('{a.tea}', '{a.running}')"
    )
    await backend.execute(f"UPDATE skills SET indexed = FALSE WHERE skill_id = '{b.skill}'")
    await backend.execute(f"DELETE FROM memory_records WHERE record_id = '{a.lisbon}'")
    await backend.vectors.upsert("memory_records", [_ghost("ghost-record", "alice")])
    await backend.vectors.upsert("skills", [_ghost("ghost-skill", "bob")])

    embedder = HashingEmbedder(DIM)
    report = await reconcile(backend.maintenance, backend.vectors, embedder, batch_size=1)
    assert report == ReconcileReport(reindexed=3, orphans_deleted=3)
    assert embedder.calls == 3  # one batch per repaired row; indexed rows are not embedded

    alive = [a.deploy, a.tea, a.running, a.old]
    assert await vector_ids(backend, "memory_records", "alice", [*alive, a.lisbon]) == set(alive)
    assert await vector_ids(backend, "skills", "bob", [b.skill]) == {b.skill}
    assert await vector_ids(backend, "memory_records", "alice", ["ghost-record"]) == set()
    assert await vector_ids(backend, "skills", "bob", ["ghost-skill"]) == set()
    for table in VECTOR_TABLES:
        assert (
            await backend.maintenance.index_sources(table, after=0, limit=10, unindexed_only=True)
            == []
        )
    query = await embedder.embed(["Likes green tea in the afternoon"])
    hits = (await backend.vectors.search("memory_records", "alice", query, k=1))[0]
    assert hits[0][0] == a.tea and hits[0][1] == pytest.approx(1.0, abs=1e-5)

    calls = embedder.calls
    again = await reconcile(backend.maintenance, backend.vectors, embedder)
    assert again == ReconcileReport(0, 0) and embedder.calls == calls


async def test_index_sources_page_every_tenant_in_order(backend: Backend) -> None:
    a = await seed(backend, "alice", index=False)
    b = await seed(backend, "bob", index=False)
    maintenance = backend.maintenance
    seen: list[str] = []
    after = 0
    while page := await maintenance.index_sources(
        "memory_records", after=after, limit=3, unindexed_only=False
    ):
        assert [s.position for s in page] == sorted(s.position for s in page)
        assert page[0].position > after
        seen.extend(s.item_id for s in page)
        after = page[-1].position
    assert len(seen) == 10 and set(seen) == {*a.active_records, a.old, *b.active_records, b.old}
    composites = await maintenance.index_sources(
        "composite_records", after=0, limit=10, unindexed_only=True
    )
    outer = next(s for s in composites if s.item_id == a.outer)
    assert (outer.user_id, outer.level, outer.text) == (
        "alice",
        2,
        "Life in Lisbon with its habits",
    )
    assert outer.normalized_text == "life in lisbon" and not outer.expired
    skill = (await maintenance.index_sources("skills", after=0, limit=1, unindexed_only=True))[0]
    assert (skill.text, skill.normalized_text) == ("deploy the service", None)
    await maintenance.mark_indexed("skills", [skill.item_id])
    left = await maintenance.index_sources("skills", after=0, limit=10, unindexed_only=True)
    assert [s.item_id for s in left] == [x for x in (a.skill, b.skill) if x != skill.item_id]
    assert await maintenance.existing_ids("skills", [a.skill, "missing"]) == {a.skill}
    with pytest.raises(ValueError, match="sessions"):
        await maintenance.index_sources("sessions", after=0, limit=1, unindexed_only=True)
