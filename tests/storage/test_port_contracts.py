"""Behaviour every storage backend must show, run against SQLite/LanceDB and PostgreSQL.

Each test gets a fresh store set: real SQLite and LanceDB files in a tmp dir, or a fresh
database on the session's real PostgreSQL (tests/pg_support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lycheemem.domain.models import Summary, Turn, User
from lycheemem.errors import UsernameTaken
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.jobs import PgJobStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.users import PgUserStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.jobs import SqliteJobStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.users import SqliteUserStore

pytestmark = pytest.mark.anyio
DIM = 8
T0 = "2026-05-01T12:00:00.000Z"
T1 = "2026-05-01T12:01:00.000Z"
T2 = "2026-05-01T12:02:00.000Z"
LATER = "2026-05-01T13:00:00.000Z"


@dataclass
class Stores:
    """One backend's implementation of each port under test."""

    users: Any
    sessions: Any
    jobs: Any
    vectors: Any


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """A fresh, empty set of stores of the parametrised backend."""
    if request.param == "sqlite":
        db = Database(tmp_path / "x.db")
        await db.open()
        lance = LanceVectorIndex(tmp_path / "lance", dim=DIM)
        await lance.open()
        yield Stores(SqliteUserStore(db), SqliteSessionStore(db), SqliteJobStore(db), lance)
        await lance.close()
        await db.close()
        return
    pg = PgDatabase(request.getfixturevalue("pg_url"), max_size=4)
    await pg.open()
    vectors = PgVectorIndex(pg, dim=DIM)
    await vectors.open()
    yield Stores(PgUserStore(pg), PgSessionStore(pg), PgJobStore(pg), vectors)
    await pg.close()


def _turn(user: str, session: str, content: str, turn_id: str | None = None) -> Turn:
    return Turn(
        user_id=user,
        session_id=session,
        turn_index=-1,
        role="user",
        content=content,
        created_at=T0,
        token_count=3,
        turn_id=turn_id,
        metadata={"k": "v"} if turn_id else None,
    )


def _job_fields(user: str, session: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "consolidate",
        "user_id": user,
        "session_id": session,
        "now": T0,
        "not_before": T0,
        "priority": 0,
        "max_attempts": 3,
    }
    fields.update(extra)
    return fields


# --- UserStore -----------------------------------------------------------------------------


async def test_users_unique_case_insensitively(stores: Stores) -> None:
    await stores.users.create(User("u1", "Alice", "Alice A", T0, "hash"))
    with pytest.raises(UsernameTaken):
        await stores.users.create(User("u2", "ALICE", "other", T0, "hash"))
    found = await stores.users.by_username("alice")
    assert found is not None and found.user_id == "u1" and found.password_hash == "hash"
    assert (await stores.users.by_id("u1")).username == "Alice"
    assert await stores.users.by_id("nobody") is None
    assert await stores.users.by_username("bob") is None


async def test_token_version_bumps_and_delete_removes_the_account(stores: Stores) -> None:
    await stores.users.create(User("u1", "Alice", "Alice A", T0, "hash"))
    assert (await stores.users.by_id("u1")).token_version == 0
    assert await stores.users.bump_token_version("u1") == 1
    assert (await stores.users.by_id("u1")).token_version == 1
    assert await stores.users.bump_token_version("nobody") is None
    assert await stores.users.delete("u1") is True
    assert await stores.users.by_id("u1") is None
    assert await stores.users.delete("u1") is False


# --- SessionStore --------------------------------------------------------------------------


async def test_turns_are_appended_in_order_and_duplicates_store_nothing(stores: Stores) -> None:
    s = stores.sessions
    first = await s.append_turn(_turn("u", "s", "hello", "c1"), now=T0)
    second = await s.append_turn(_turn("u", "s", "again"), now=T1)
    repeat = await s.append_turn(_turn("u", "s", "hello", "c1"), now=T2)
    assert (first.status, first.turn_index, first.turn_count) == ("appended", 0, 1)
    assert (second.turn_index, second.turn_count) == (1, 2)
    assert (repeat.status, repeat.turn_index, repeat.turn_count) == ("duplicate", 0, 2)
    turns = await s.turns("u", "s")
    assert [t.content for t in turns] == ["hello", "again"]
    assert turns[0].metadata == {"k": "v"} and turns[0].turn_id == "c1"
    assert [t.turn_index for t in await s.turns("u", "s", offset=1, limit=5)] == [1]
    session = await s.get("u", "s")
    assert session is not None and session.turn_count == 2 and session.updated_at == T1


async def test_sessions_are_invisible_to_other_tenants(stores: Stores) -> None:
    s = stores.sessions
    await s.append_turn(_turn("u", "s", "mine"), now=T0)
    assert await s.get("other", "s") is None
    assert await s.turns("other", "s") == []
    assert await s.list_sessions("other", offset=0, limit=10) == ([], 0)
    items, total = await s.list_sessions("u", offset=0, limit=10)
    assert total == 1 and items[0].first_user_message == "mine"


async def test_concurrent_appends_to_one_session_are_gap_free(stores: Stores) -> None:
    s = stores.sessions
    await asyncio.gather(*(s.append_turn(_turn("u", "s", f"m{n}"), now=T0) for n in range(30)))
    turns = await s.turns("u", "s")
    assert [t.turn_index for t in turns] == list(range(30))
    assert sorted(t.content for t in turns) == sorted(f"m{n}" for n in range(30))


async def test_meta_and_compression(stores: Stores) -> None:
    s = stores.sessions
    meta = await s.update_meta("u", "s", topic="trip", tags=["a"], set_topic=True, now=T0)
    assert (meta.topic, meta.tags) == ("trip", ["a"])
    kept = await s.update_meta("u", "s", topic=None, tags=None, set_topic=False, now=T1)
    assert (kept.topic, kept.tags) == ("trip", ["a"])
    for n in range(4):
        await s.append_turn(_turn("u", "s", f"m{n}"), now=T1)
    summary = Summary("u", "s", boundary_index=2, content="sum", token_count=2, created_at=T1)
    assert await s.apply_compression(
        "u", "s", summary=summary, folded_indexes=[0, 1], expected_previous_summary_id=None
    )
    assert not await s.apply_compression(
        "u", "s", summary=summary, folded_indexes=[2], expected_previous_summary_id=None
    )
    session, latest, active = await s.working_set("u", "s")
    assert session is not None and latest is not None and latest.content == "sum"
    assert [t.turn_index for t in active] == [2, 3]
    assert len(await s.summaries("u", "s")) == 1


# --- JobStore ------------------------------------------------------------------------------


async def _claim(jobs: Any, now: str, busy: set[tuple[str, str]] | None = None) -> Any:
    return await jobs.claim(
        now=now, lease_until=LATER, kinds=("consolidate",), busy_sessions=busy or set()
    )


async def test_jobs_are_debounced_claimed_once_and_finished(stores: Stores) -> None:
    j = stores.jobs
    first = await j.enqueue(**_job_fields("u", "s", retrieved_context="a"))
    merged = await j.enqueue(**_job_fields("u", "s", retrieved_context="b", priority=5))
    assert merged.job_id == first.job_id
    assert merged.retrieved_context == "a\nb" and merged.priority == 5
    claimed = await j.claim(now=T1, lease_until=LATER, kinds=("consolidate",), busy_sessions=set())
    assert claimed is not None and claimed.job_id == first.job_id and claimed.attempts == 1
    again = await j.claim(now=T1, lease_until=LATER, kinds=("consolidate",), busy_sessions=set())
    assert again is None
    assert await j.renew(first.job_id, lease_until=LATER)
    await j.finish(first.job_id, now=T2, result={"records": 2})
    done = await j.get("u", first.job_id)
    assert done is not None and done.status == "done" and done.result == {"records": 2}
    assert await j.get("other", first.job_id) is None
    assert (await j.counts("u")) == {"done": 1}
    assert (await j.latest("u", "s", "consolidate")).job_id == first.job_id


async def test_busy_sessions_are_skipped_and_failures_retry(stores: Stores) -> None:
    j = stores.jobs
    job = await j.enqueue(**_job_fields("u", "s"))
    busy = {("u", "s")}
    assert await _claim(j, T1, busy) is None
    claimed = await j.claim(now=T1, lease_until=LATER, kinds=("consolidate",), busy_sessions=set())
    assert claimed is not None
    await j.fail(job.job_id, now=T1, error="boom", result={}, retry_at=T2)
    requeued = await j.get("u", job.job_id)
    assert requeued is not None and requeued.status == "queued" and requeued.not_before == T2
    assert await _claim(j, T1) is None
    await j.claim(now=T2, lease_until=LATER, kinds=("consolidate",), busy_sessions=set())
    await j.fail(job.job_id, now=T2, error="boom", result={}, retry_at=None)
    assert (await j.get("u", job.job_id)).status == "failed"
    assert not await j.is_cancelled(job.job_id)


async def test_concurrent_claims_take_each_job_once(stores: Stores) -> None:
    j = stores.jobs
    ids = {(await j.enqueue(**_job_fields("u", f"s{n}"))).job_id for n in range(12)}

    async def claim() -> str | None:
        job = await j.claim(now=T1, lease_until=LATER, kinds=("consolidate",), busy_sessions=set())
        return job.job_id if job else None

    taken = [job_id for job_id in await asyncio.gather(*(claim() for _ in range(20))) if job_id]
    assert sorted(taken) == sorted(ids)


# --- VectorIndex ---------------------------------------------------------------------------


def _unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


async def test_vectors_search_by_cosine_within_the_tenant(stores: Stores) -> None:
    from lycheemem.domain.models import VectorRow

    v = stores.vectors
    rows = [VectorRow(f"r{n}", "u", _unit(n), memory_type="fact") for n in range(20)]
    rows.append(VectorRow("theirs", "other", _unit(3)))
    await v.upsert("memory_records", rows)
    [hits] = await v.search("memory_records", "u", _unit(3)[None, :], k=5)
    assert hits[0][0] == "r3" and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 5 and "theirs" not in [item for item, _ in hits]
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    await v.set_expired("memory_records", "u", ["r3"])
    [hidden] = await v.search("memory_records", "u", _unit(3)[None, :], k=5)
    assert "r3" not in [item for item, _ in hidden]
    [shown] = await v.search("memory_records", "u", _unit(3), k=5, include_expired=True)
    assert shown[0][0] == "r3"
    stored = await v.get_vectors("memory_records", "u", ["r1", "theirs"])
    assert list(stored) == ["r1"] and np.allclose(stored["r1"], _unit(1), atol=1e-5)
    assert await v.count("memory_records", "u") == 20
    await v.delete("memory_records", "u", ["r1", "theirs"])
    assert await v.count("memory_records", "u") == 19
    assert await v.count("memory_records", "other") == 1
    await v.delete_user("u")
    assert await v.count("memory_records", "u") == 0
    assert await v.count("memory_records", "other") == 1


async def test_concurrent_upserts_of_overlapping_ids_both_land(stores: Stores) -> None:
    """Two replicas writing the vectors of the same merged records in opposite orders must
    both succeed (no deadlock), and the last writer's vectors are stored."""
    from lycheemem.domain.models import VectorRow

    v = stores.vectors
    rows = [VectorRow(f"r{n}", "u", _unit(n), memory_type="fact") for n in range(60)]
    for _ in range(3):
        await asyncio.gather(
            v.upsert("memory_records", rows), v.upsert("memory_records", rows[::-1])
        )
    assert await v.count("memory_records", "u") == len(rows)
