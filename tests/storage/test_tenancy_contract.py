"""What any ``TenancyStore`` must do, run against SQLite/LanceDB and PostgreSQL/pgvector:
deleting one session removes that session's traces only, and forgetting what it taught
deletes exactly the items no other session taught (and the composites above them)."""

from __future__ import annotations

import pytest
from backend_support import T0, Backend, Seeded, backend, seed, vector_ids

from lycheemem.domain.models import Turn

pytestmark = pytest.mark.anyio
__all__ = ["backend"]  # the fixture, imported for pytest


async def _both(b: Backend) -> tuple[Seeded, Seeded]:
    return await seed(b, "alice"), await seed(b, "bob")


async def _item_ids(b: Backend, user: str, session_id: str | None = None) -> set[str]:
    items, _ = await b.catalog.list_items(
        user,
        kind="all",
        memory_type=None,
        session_id=session_id,
        include_expired=True,
        q=None,
        order="updated_desc",
        offset=0,
        limit=100,
    )
    return {item.item_id for item in items}


async def test_delete_session_removes_only_that_session(backend: Backend) -> None:
    a, b = await _both(backend)
    items_before = await _item_ids(backend, "alice")
    bob_rows = await backend.tenant_rows("bob")
    deletion = await backend.tenancy.delete_session("alice", "s1")
    assert (deletion.turns_deleted, deletion.usage_logs_deleted, deletion.jobs_cancelled) == (
        2,
        1,
        1,
    )
    assert deletion.record_ids == [] and deletion.composite_ids == []
    assert await backend.sessions.get("alice", "s1") is None
    assert await backend.sessions.turns("alice", "s1") == []
    assert await backend.sessions.summaries("alice", "s1") == []
    assert await backend.usage.get("alice", a.log) is None
    assert await backend.jobs.get("alice", a.job) is None
    # the memory stays (without forget_memories), and so does the other session
    assert await _item_ids(backend, "alice") == items_before
    assert len(await backend.sessions.turns("alice", "s2")) == 1
    assert (await backend.semantic.skipped_turns("alice"))["count"] == 1
    assert await backend.tenant_rows("bob") == bob_rows
    assert await backend.usage.get("bob", b.log) is not None


async def test_delete_session_takes_its_skipped_turns(backend: Backend) -> None:
    await _both(backend)
    await backend.tenancy.delete_session("alice", "s2")
    assert (await backend.semantic.skipped_turns("alice"))["count"] == 0
    assert (await backend.semantic.skipped_turns("bob"))["count"] == 1


async def test_forget_memories_deletes_what_only_that_session_taught(backend: Backend) -> None:
    a, b = await _both(backend)
    bob_rows = await backend.tenant_rows("bob")
    deletion = await backend.tenancy.delete_session("alice", "s1", forget_memories=True)
    # deploy, tea and the expired record came from s1 alone; running also from s2
    assert set(deletion.record_ids) == {a.deploy, a.tea, a.old}
    assert set(deletion.composite_ids) == {a.inner, a.outer}
    assert await _item_ids(backend, "alice") == {a.lisbon, a.running}
    running = (await backend.semantic.records("alice", [a.running]))[a.running]
    assert [source.session_id for source in running.sources] == ["s2"]
    assert running.source_session_id == "s2"
    assert await _item_ids(backend, "alice", "s1") == set()
    assert await _item_ids(backend, "alice", "s2") == {a.lisbon, a.running}
    await backend.vectors.delete("memory_records", "alice", deletion.record_ids)  # the service
    assert await vector_ids(backend, "memory_records", "alice", a.active_records) == {
        a.lisbon,
        a.running,
    }
    assert await backend.tenant_rows("bob") == bob_rows
    assert await _item_ids(backend, "bob", "s1") == {b.deploy, b.tea, b.running, b.old}


async def test_a_running_job_of_the_session_is_flagged_not_deleted(backend: Backend) -> None:
    await backend.sessions.append_turn(
        Turn("alice", "s1", -1, "user", "hi", T0, 1),
        now=T0,
    )
    job = await backend.jobs.enqueue(
        kind="consolidate",
        user_id="alice",
        session_id="s1",
        now=T0,
        not_before=T0,
        priority=0,
        max_attempts=3,
    )
    claimed = await backend.jobs.claim(
        now=T0, lease_until="2026-04-01T10:00:00.000Z", kinds=("consolidate",), busy_sessions=set()
    )
    assert claimed is not None and claimed.job_id == job.job_id
    deletion = await backend.tenancy.delete_session("alice", "s1")
    assert deletion.jobs_cancelled == 1
    assert await backend.jobs.is_cancelled(job.job_id)


async def test_deleting_a_missing_session_changes_nothing(backend: Backend) -> None:
    await _both(backend)
    before = await backend.tenant_rows("alice")
    deletion = await backend.tenancy.delete_session("alice", "nope", forget_memories=True)
    assert (deletion.turns_deleted, deletion.record_ids, deletion.composite_ids) == (0, [], [])
    assert await backend.tenant_rows("alice") == before
