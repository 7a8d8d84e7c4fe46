"""Both storage backends side by side for the catalog, tenancy and reconcile contract suites.

``backend`` gives each test a fresh, empty set of every store of one backend: real SQLite and
LanceDB files in a tmp dir, or a fresh database on the session's real PostgreSQL
(tests/pg_support.py). ``seed`` writes one tenant's small but complete memory through the
ports (sessions, turns, a summary, records, a two-level tree, a skill, a usage log, a job, a
skipped turn and the vectors), so every suite starts from the same picture on both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lycheemem.consolidation.reconcile import repair_unindexed
from lycheemem.domain.models import (
    BatchCommit,
    CompositeRecord,
    MemoryRecord,
    Skill,
    SourceRef,
    Summary,
    Turn,
    UsageLog,
)
from lycheemem.domain.text.terms import composite_id_for
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.postgres.catalog import PgCatalogStore
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.jobs import PgJobStore
from lycheemem.storage.postgres.maintenance import PgIndexMaintenance
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.tenancy import PgTenancyStore
from lycheemem.storage.postgres.usage import PgUsageStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.catalog import SqliteCatalogStore
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.jobs import SqliteJobStore
from lycheemem.storage.sqlite.maintenance import SqliteIndexMaintenance
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.tenancy import SqliteTenancyStore
from lycheemem.storage.sqlite.usage import SqliteUsageStore
from lycheemem.testing import HashingEmbedder, make_record

DIM = 16
T0 = "2026-04-01T09:00:00.000Z"


def at(minute: int) -> str:
    """A timestamp ``minute`` minutes after 09:00 on the seed day."""
    return f"2026-04-01T09:{minute:02d}:00.000Z"


@dataclass
class Backend:
    """Every store of one backend, plus raw access for what no port reads."""

    name: str
    catalog: Any
    tenancy: Any
    semantic: Any
    sessions: Any
    jobs: Any
    usage: Any
    vectors: Any
    maintenance: Any
    drain: Callable[[], Awaitable[None]]
    tenant_rows: Callable[[str], Awaitable[dict[str, int]]]
    execute: Callable[[str], Awaitable[None]]


async def _sqlite_tenant_rows(db: Database, user_id: str) -> dict[str, int]:
    def count(conn: Any) -> dict[str, int]:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found: dict[str, int] = {}
        for table in tables:
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if "user_id" in columns:
                sql = f"SELECT COUNT(*) FROM {table} WHERE user_id = ?"
                found[table] = conn.execute(sql, (user_id,)).fetchone()[0]
        return found

    return await db.read(count)


async def _pg_tenant_rows(db: PgDatabase, user_id: str) -> dict[str, int]:
    # as the table owner: row-level security does not hide anything from this count
    async with db.owner() as conn:
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'user_id'"
        )
        tables = [row["table_name"] for row in await cur.fetchall()]
        found: dict[str, int] = {}
        for table in tables:
            cur = await conn.execute(
                f"SELECT COUNT(*) AS n FROM {table} WHERE user_id = %s", (user_id,)
            )
            row = await cur.fetchone()
            found[table] = int(row["n"]) if row else 0
        return found


async def _pg_execute(db: PgDatabase, sql: str) -> None:
    async with db.owner() as conn:
        await conn.execute(sql.encode())


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh, empty set of every store of the parametrised backend."""
    if request.param == "sqlite":
        db = Database(tmp_path / "x.db")
        await db.open()
        lance = LanceVectorIndex(tmp_path / "lance", dim=DIM)
        await lance.open()

        async def run(sql: str) -> None:
            def write(conn: Any) -> None:
                conn.execute(sql)

            await db.write(write)

        yield Backend(
            "sqlite",
            SqliteCatalogStore(db),
            SqliteTenancyStore(db),
            SqliteSemanticStore(db),
            SqliteSessionStore(db),
            SqliteJobStore(db),
            SqliteUsageStore(db),
            lance,
            SqliteIndexMaintenance(db),
            db.drain,
            lambda user_id: _sqlite_tenant_rows(db, user_id),
            run,
        )
        await lance.close()
        await db.close()
        return
    pg = PgDatabase(request.getfixturevalue("pg_url"), max_size=4)
    await pg.open()
    vectors = PgVectorIndex(pg, dim=DIM)
    await vectors.open()
    semantic = PgSemanticStore(pg)
    yield Backend(
        "postgres",
        PgCatalogStore(pg),
        PgTenancyStore(pg),
        semantic,
        PgSessionStore(pg),
        PgJobStore(pg),
        PgUsageStore(pg),
        vectors,
        PgIndexMaintenance(pg),
        semantic.drain,
        lambda user_id: _pg_tenant_rows(pg, user_id),
        lambda sql: _pg_execute(pg, sql),
    )
    await semantic.drain()
    await pg.close()


@dataclass
class Seeded:
    """The ids one tenant's seed wrote.

    ``deploy``/``tea`` come from s1 only, ``lisbon`` from s2 only, ``running`` from both
    (first s1). ``inner`` (level 1) holds ``deploy`` and ``tea`` directly; ``outer`` (level 2)
    holds ``inner`` and ``lisbon`` directly (and every leaf). ``old`` is expired.
    """

    user_id: str
    deploy: str
    tea: str
    lisbon: str
    running: str
    old: str
    inner: str
    outer: str
    skill: str
    log: str
    job: str

    @property
    def active_records(self) -> list[str]:
        """Ids of the records that are not expired."""
        return [self.deploy, self.tea, self.lisbon, self.running]


def _records(user: str) -> list[MemoryRecord]:
    return [
        make_record(user, "Deploys with git and docker", created_at=at(1), tool_tags=["git"]),
        make_record(user, "Likes green tea in the afternoon", created_at=at(2)),
        make_record(user, "Lives in Lisbon near the river", "s2", created_at=at(3)),
        make_record(
            user,
            "Runs every morning before work",
            created_at=at(4),
            memory_type="preference",
            sources=[SourceRef("s1", [0]), SourceRef("s2", [0])],
        ),
        make_record(user, "Used to live in Porto", created_at=at(0), expired=True),
    ]


def _tree(user: str, leaves: list[MemoryRecord]) -> tuple[CompositeRecord, CompositeRecord]:
    deploy, tea, lisbon = leaves[0].record_id, leaves[1].record_id, leaves[2].record_id
    inner = CompositeRecord(
        composite_id=composite_id_for(user, [deploy, tea]),
        user_id=user,
        memory_type="fact",
        semantic_text="Daily habits: git deploys and green tea",
        normalized_text="daily habits",
        created_at=at(5),
        updated_at=at(5),
        source_record_ids=[tea, deploy],
    )
    outer = CompositeRecord(
        composite_id=composite_id_for(user, [deploy, tea, lisbon]),
        user_id=user,
        memory_type="fact",
        semantic_text="Life in Lisbon with its habits",
        normalized_text="life in lisbon",
        created_at=at(6),
        updated_at=at(6),
        source_record_ids=[deploy, tea, lisbon],
        child_composite_ids=[inner.composite_id],
        level=2,
    )
    return inner, outer


async def _sessions(b: Backend, user: str) -> None:
    for session, texts in (("s1", ["hello", "I deploy with git"]), ("s2", ["I live in Lisbon"])):
        for text in texts:
            await b.sessions.append_turn(Turn(user, session, -1, "user", text, T0, 2), now=T0)
    summary = Summary(user, "s1", 1, "greeting", 1, T0)
    assert await b.sessions.apply_compression(
        user, "s1", summary=summary, folded_indexes=[0], expected_previous_summary_id=None
    )


async def seed(b: Backend, user: str, *, index: bool = True) -> Seeded:
    """Write one tenant's memory (see ``Seeded``); with ``index`` also every vector."""
    await _sessions(b, user)
    records = _records(user)
    inner, outer = _tree(user, records)
    skill = Skill(f"skill-{user}", user, "deploy the service", "1. push 2. tag", at(7), at(7))
    batch = BatchCommit(
        user_id=user,
        session_id="s1",
        records=records,
        composites=[
            (inner, [records[0].record_id, records[1].record_id]),
            (outer, [records[2].record_id]),
        ],
        skills=[skill],
        watermark=1,
        now=at(8),
    )
    assert not (await b.semantic.commit_batch(batch)).session_missing
    log = UsageLog(f"log-{user}", user, "s1", at(9), "what do I drink", "answer")
    assert b.semantic.record_retrieval_nowait(log, [], at(9))
    await b.drain()
    job = await b.jobs.enqueue(
        kind="consolidate",
        user_id=user,
        session_id="s1",
        now=T0,
        not_before=T0,
        priority=0,
        max_attempts=3,
    )
    await b.semantic.skip_turn(
        user_id=user, session_id="s2", turn_index=0, job_id=job.job_id, error="boom", now=T0
    )
    if index:
        await repair_unindexed(b.maintenance, b.vectors, HashingEmbedder(DIM))
    ids = [r.record_id for r in records]
    return Seeded(
        user, *ids, inner.composite_id, outer.composite_id, skill.skill_id, log.log_id, job.job_id
    )


async def vector_ids(b: Backend, table: str, user_id: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` have a vector of ``user_id`` in ``table``."""
    return set(await b.vectors.get_vectors(table, user_id, ids))
