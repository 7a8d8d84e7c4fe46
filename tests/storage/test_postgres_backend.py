"""PostgreSQL-only guarantees: migrations, row-level security, and many replicas on one
database (separate pools in one process, and separate OS processes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psycopg
import pytest

from lycheemem.domain.models import Turn, VectorRow
from lycheemem.storage.postgres.database import APP_ROLE, PgDatabase, migration_files
from lycheemem.storage.postgres.jobs import PgJobStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.vectors import PgVectorIndex

pytestmark = pytest.mark.anyio
T0 = "2026-05-01T12:00:00.000Z"
LATER = "2026-05-01T13:00:00.000Z"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _turn(user: str, session: str, content: str) -> Turn:
    return Turn(user, session, -1, "user", content, T0, token_count=1)


async def test_migrations_apply_once_and_app_role_cannot_bypass_rls(pg_url: str) -> None:
    first = PgDatabase(pg_url)
    await first.open()
    second = PgDatabase(pg_url)
    assert await second.migrate() == max(v for v, _, _ in migration_files())
    with psycopg.connect(pg_url) as conn:
        applied = conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
        ).fetchone()
        unprotected = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND NOT relrowsecurity",
            (["users", "sessions", "turns", "summaries", "jobs", "vectors"],),
        ).fetchall()
    assert applied == len(migration_files())
    assert role == (False, False)
    assert unprotected == []
    await first.close()


async def test_an_unfiltered_query_returns_nothing_of_another_tenant(pg_url: str) -> None:
    db = PgDatabase(pg_url)
    await db.open()
    sessions = PgSessionStore(db)
    vectors = PgVectorIndex(db, dim=4)
    await vectors.open()
    await sessions.append_turn(_turn("alice", "s", "alice's secret"), now=T0)
    await sessions.append_turn(_turn("bob", "s", "bob's note"), now=T0)
    await vectors.upsert("skills", [VectorRow("a1", "alice", np.ones(4, dtype=np.float32))])
    async with db.tenant("bob") as conn:
        # deliberately no tenant filter: row-level security is the only wall left
        turns = await (await conn.execute("SELECT user_id, content FROM turns")).fetchall()
        vecs = await (await conn.execute("SELECT user_id FROM vectors")).fetchall()
        sess = await (await conn.execute("SELECT user_id FROM sessions")).fetchall()
        changed = (await conn.execute("UPDATE turns SET content = 'x'")).rowcount
    assert turns == [{"user_id": "bob", "content": "bob's note"}]
    assert vecs == [] and sess == [{"user_id": "bob"}] and changed == 1
    async with db.tenant("bob") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(
                "INSERT INTO sessions (user_id, session_id, created_at, updated_at)"
                " VALUES ('alice', 'forged', %s, %s)",
                (T0, T0),
            )
    assert [t.content for t in await sessions.turns("alice", "s")] == ["alice's secret"]
    await db.close()


async def test_two_pools_append_and_claim_like_two_replicas(pg_url: str) -> None:
    replicas = [PgDatabase(pg_url, max_size=4) for _ in range(2)]
    for db in replicas:
        await db.open()
    stores = [PgSessionStore(db) for db in replicas]
    await asyncio.gather(
        *(stores[n % 2].append_turn(_turn("u", "s", f"m{n}"), now=T0) for n in range(40))
    )
    turns = await stores[0].turns("u", "s")
    assert [t.turn_index for t in turns] == list(range(40))
    assert len({t.content for t in turns}) == 40
    jobs = [PgJobStore(db) for db in replicas]
    ids = {
        (
            await jobs[0].enqueue(
                kind="consolidate",
                user_id="u",
                session_id=f"s{n}",
                now=T0,
                not_before=T0,
                priority=0,
                max_attempts=3,
            )
        ).job_id
        for n in range(10)
    }

    async def claim(n: int) -> str | None:
        job = await jobs[n % 2].claim(
            now=T0, lease_until=LATER, kinds=("consolidate",), busy_sessions=set()
        )
        return job.job_id if job else None

    taken = [job for job in await asyncio.gather(*(claim(n) for n in range(16))) if job]
    assert sorted(taken) == sorted(ids)
    for db in replicas:
        await db.close()


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from lycheemem.domain.models import Turn
    from lycheemem.storage.postgres.database import PgDatabase
    from lycheemem.storage.postgres.sessions import PgSessionStore

    async def main(url, tag):
        db = PgDatabase(url, max_size=4)
        await db.open()
        store = PgSessionStore(db)
        turn = lambda n: Turn("u", "s", -1, "user", f"{tag}{n}", "2026-05-01T12:00:00.000Z")
        await asyncio.gather(*(store.append_turn(turn(n), now="x") for n in range(25)))
        await db.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_two_processes_append_to_one_session_gap_free(pg_url: str) -> None:
    await PgDatabase(pg_url).migrate()  # apply once up front; the workers find it done
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, pg_url, tag], env=env)
        for tag in ("a", "b")
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    db = PgDatabase(pg_url)
    await db.open()
    turns = await PgSessionStore(db).turns("u", "s")
    assert [t.turn_index for t in turns] == list(range(50))
    assert sorted(t.content for t in turns) == sorted(
        f"{tag}{n}" for tag in "ab" for n in range(25)
    )
    await db.close()


async def test_a_dead_replicas_expired_lease_is_claimed_by_another(pg_url: str) -> None:
    db = PgDatabase(pg_url)
    await db.open()
    jobs = PgJobStore(db)
    job = await jobs.enqueue(
        kind="consolidate",
        user_id="u",
        session_id="s",
        now=T0,
        not_before=T0,
        priority=0,
        max_attempts=3,
    )
    dead = await jobs.claim(
        now=T0, lease_until="2026-05-01T12:00:30.000Z", kinds=("consolidate",), busy_sessions=set()
    )
    assert dead is not None and dead.job_id == job.job_id
    assert (
        await jobs.claim(
            now="2026-05-01T12:00:10.000Z",
            lease_until=LATER,
            kinds=("consolidate",),
            busy_sessions=set(),
        )
        is None
    )
    taken = await jobs.claim(
        now="2026-05-01T12:01:00.000Z",
        lease_until=LATER,
        kinds=("consolidate",),
        busy_sessions=set(),
    )
    assert taken is not None and taken.job_id == job.job_id and taken.attempts == 2
    await db.close()


async def test_hnsw_search_of_a_small_tenant_among_many_still_returns_k_rows(
    pg_url: str,
) -> None:
    db = PgDatabase(pg_url)
    await db.open()
    rng = np.random.default_rng(7)
    exact = PgVectorIndex(db, dim=16, strategy="exact")
    ann = PgVectorIndex(db, dim=16, strategy="ann")
    await ann.open()
    crowd = rng.standard_normal((400, 16)).astype(np.float32)
    mine = rng.standard_normal((12, 16)).astype(np.float32)
    await ann.upsert("skills", [VectorRow(f"c{n}", "crowd", v) for n, v in enumerate(crowd)])
    await ann.upsert("skills", [VectorRow(f"m{n}", "me", v) for n, v in enumerate(mine)])
    query = crowd[0][None, :]
    [by_index] = await ann.search("skills", "me", query, k=10)
    [by_scan] = await exact.search("skills", "me", query, k=10)
    assert len(by_index) == 10 and all(item.startswith("m") for item, _ in by_index)
    norms = mine / np.linalg.norm(mine, axis=1, keepdims=True)
    best = np.argsort(-(norms @ (query[0] / np.linalg.norm(query[0]))))[:10]
    assert [item for item, _ in by_scan] == [f"m{n}" for n in best]
    assert {item for item, _ in by_index} <= {f"m{n}" for n in range(12)}
    await db.close()


async def test_replicas_share_one_token_secret_and_model_guard(pg_url: str) -> None:
    from lycheemem.errors import EmbeddingMismatch
    from lycheemem.storage.postgres.meta import check_model_guard, shared_secret

    replicas = [PgDatabase(pg_url) for _ in range(2)]
    for db in replicas:
        await db.open()
    secrets_seen = await asyncio.gather(*(shared_secret(db, "") for db in replicas))
    assert secrets_seen[0] == secrets_seen[1] and len(secrets_seen[0]) == 64
    assert await shared_secret(replicas[0], "x" * 32) == "x" * 32
    await check_model_guard(replicas[0], "wordllama", 256, T0)
    await check_model_guard(replicas[1], "wordllama", 256, T0)
    with pytest.raises(EmbeddingMismatch):
        await check_model_guard(replicas[1], "other", 256, T0)
    for db in replicas:
        await db.close()
