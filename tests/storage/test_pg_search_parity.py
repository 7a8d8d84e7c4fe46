"""The real search pipeline over PostgreSQL stores returns what it returns over SQLite/LanceDB.

Same records, same deterministic embeddings, same queries (English, identifiers, Chinese, a
time window): the selected items must be the same, in the same order, and the usage log of
each search must land in both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lycheemem.bootstrap import _search_config
from lycheemem.clock import Clock
from lycheemem.domain.models import BatchCommit, MemoryRecord, Temporal, Turn, VectorRow
from lycheemem.retrieval.search import SemanticSearch
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.usage import PgUsageStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.usage import SqliteUsageStore
from lycheemem.testing import HashingEmbedder, make_record, make_test_settings

pytestmark = pytest.mark.anyio
T0 = "2026-03-01T10:00:00.000Z"
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
TEXTS = [
    ("Alice deploys the billing service with kubectl on Fridays", {"tool_tags": ["kubectl"]}),
    ("The billing service runs on Postgres 16 in eu-west-1", {}),
    ("Bob prefers tea over coffee in the morning", {}),
    ("Run make test before every push to main", {"memory_type": "procedure"}),
    ("deploy_script.sh needs the AWS_PROFILE variable", {"tool_tags": ["bash"]}),
    ("我喜欢在周末去爬山", {}),
    ("她每天早上喝绿茶", {}),
    ("The team offsite was in Lisbon", {"temporal": Temporal("2026-03-12")}),
    ("Carol reviews pull requests on Mondays", {}),
    ("The staging cluster was upgraded last week", {"temporal": Temporal("2026-03-10")}),
]
QUERIES = [
    "how does Alice deploy billing?",
    "what database does billing use",
    "deploy_script.sh",
    "谁喜欢爬山",
    "what happened on March 12 2026",
    "what should I run before pushing",
]


class _FixedClock(Clock):
    def now(self) -> datetime:
        return NOW


def _records() -> list[MemoryRecord]:
    return [
        make_record("u", text, source_turn_ids=[n], **fields)
        for n, (text, fields) in enumerate(TEXTS)
    ]


async def _selected(stores: tuple[Any, Any, Any], usage: Any, tmp_path: Path) -> list[list[str]]:
    sessions, semantic, vectors = stores
    embedder = HashingEmbedder(dim=32)
    await sessions.append_turn(Turn("u", "s1", -1, "user", "hello", T0), now=T0)
    records = _records()
    await semantic.commit_batch(BatchCommit("u", "s1", len(records), records=records, now=T0))
    matrix = await embedder.embed([r.semantic_text for r in records])
    await vectors.upsert(
        "memory_records",
        [
            VectorRow(r.record_id, "u", matrix[n], matrix[n], memory_type=r.memory_type)
            for n, r in enumerate(records)
        ],
    )
    search = SemanticSearch(
        store=semantic,
        sessions=sessions,
        vectors=vectors,
        embedder=embedder,
        config=_search_config(make_test_settings(tmp_path)),
        clock=_FixedClock(),
    )
    found: list[list[str]] = []
    drain = getattr(semantic, "drain", None) or semantic.db.drain
    for query in QUERIES:
        outcome = await search.search(user_id="u", query=query, top_k=3, session_id="s1")
        found.append([c.item_id for c in outcome.selected])
        # the usage log bumps retrieval counters, which the next search scores: wait for it
        await drain()
        assert outcome.usage_log_id is not None
        assert (await usage.get("u", outcome.usage_log_id)) is not None
    return found


async def test_search_selects_the_same_items_on_both_backends(pg_url: str, tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    await db.open()
    lance = LanceVectorIndex(tmp_path / "lance", dim=32)
    await lance.open()
    sqlite = await _selected(
        (SqliteSessionStore(db), SqliteSemanticStore(db), lance), SqliteUsageStore(db), tmp_path
    )
    await lance.close()
    await db.close()
    pg = PgDatabase(pg_url, max_size=4)
    await pg.open()
    vectors = PgVectorIndex(pg, dim=32)
    await vectors.open()
    postgres = await _selected(
        (PgSessionStore(pg), PgSemanticStore(pg), vectors), PgUsageStore(pg), tmp_path
    )
    await pg.close()
    ids = {r.record_id: r.semantic_text for r in _records()}
    assert [[ids[i] for i in hits] for hits in postgres] == [
        [ids[i] for i in hits] for hits in sqlite
    ]
    assert all(sqlite), sqlite  # every query found something
