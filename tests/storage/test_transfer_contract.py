"""Export -> import round trips through the ``TransferStore`` port on both backends.

Each backend is real: SQLite + LanceDB files in tmp_path, or a fresh database on the test
session's PostgreSQL. A hand-written export holding every line kind is imported into a
source backend, exported, imported into a target backend and exported again: the two exports
are equal line for line (same tenant, so the recomputed ids are the same), whatever the pair.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lycheemem.clock import Clock
from lycheemem.domain.ports import TransferStore, VectorIndex
from lycheemem.services.transfer import MemoryTransfer
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.transfer import PgTransferStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.transfer import SqliteTransferStore
from lycheemem.testing import HashingEmbedder
from pg_support import database_url

pytestmark = pytest.mark.anyio
DIM = 16
T0 = "2026-05-01T12:00:00.000Z"
T1 = "2026-05-02T09:30:00.000Z"
HEADER = {"type": "header", "format": "lycheemem.export", "version": 1}


def _record(record_id: str, text: str, **extra: Any) -> dict[str, Any]:
    line = {
        "type": "record",
        "record_id": record_id,
        "memory_type": "fact",
        "semantic_text": text,
        "entities": ["Dana"],
        "task_tags": ["travel"],
        "sources": [{"session_id": "s1", "turn_ids": [0], "turn_refs": []}],
        "source_session_id": "s1",
        "source_turn_ids": [0],
        "created_at": T0,
        "updated_at": T0,
        "retrieval_count": 2,
    }
    line.update(extra)
    return line


LINES: list[dict[str, Any]] = [
    _record("old_r1", "Dana prefers window seats on long flights.", superseded_by="old_r2"),
    _record("old_r2", "Dana prefers aisle seats on long flights.", confidence=0.9),
    _record(
        "old_r3",
        "Dana's passport expires in March 2027.",
        memory_type="fact",
        expired=True,
        expired_at=T1,
        expired_reason="superseded",
        temporal={"t_ref": "2027-03-01", "t_valid_from": None, "t_valid_to": None},
        history=[{"text": "an older text"}],
    ),
    _record("old_r4", "出差时 Dana 喜欢住在机场附近的酒店。"),
    {
        "type": "composite",
        "composite_id": "old_c1",
        "memory_type": "composite_preference",
        "semantic_text": "Dana's seating preferences on flights.",
        "source_record_ids": ["old_r1", "old_r2"],
        "level": 1,
        "created_at": T0,
        "updated_at": T0,
    },
    {
        "type": "composite",
        "composite_id": "old_c2",
        "memory_type": "composite_pattern",
        "semantic_text": "How Dana travels.",
        "source_record_ids": ["old_r1", "old_r2", "old_r4"],
        "child_composite_ids": ["old_c1"],
        "level": 2,
        "created_at": T1,
        "updated_at": T1,
    },
    {
        "type": "skill",
        "skill_id": "sk_release",
        "intent": "cut a release of the service",
        "doc_markdown": "1. tag\n2. build\n3. publish",
        "metadata": {"owner": "ops"},
        "success_count": 3,
        "fail_count": 1,
        "created_at": T0,
        "updated_at": T1,
    },
    {
        "type": "session",
        "session_id": "s1",
        "topic": "travel",
        "tags": ["trip"],
        "created_at": T0,
        "updated_at": T1,
        "consolidated_until": 2,
    },
    *[
        {
            "type": "turn",
            "session_id": "s1",
            "turn_index": n,
            "role": "user" if n % 2 == 0 else "assistant",
            "content": f"turn number {n}",
            "turn_id": f"client-{n}" if n == 0 else None,
            "metadata": {"n": n} if n == 1 else None,
            "token_count": 3,
            "created_at": T0,
            "compressed": n == 0,
        }
        for n in range(3)
    ],
    {
        "type": "summary",
        "session_id": "s1",
        "boundary_index": 1,
        "content": "Dana talked about seats.",
        "token_count": 5,
        "created_at": T1,
    },
    {
        "type": "session",
        "session_id": "s2",
        "topic": None,
        "created_at": T1,
        "updated_at": T1,
        "consolidated_until": 9,
    },
    {"type": "turn", "session_id": "s2", "turn_index": 0, "role": "user", "content": "hi"},
    {
        "type": "usage_log",
        "log_id": "log_1",
        "session_id": "s1",
        "created_at": T1,
        "query": "which seat?",
        "mode": "answer",
        "plan": {"mode": "answer"},
        "retrieved_ids": ["old_r1", "old_r2", "old_c1", "unknown"],
        "kept_ids": ["old_r2"],
        "user_feedback": "positive",
        "feedback_source": "explicit",
        "feedback_at": T1,
        "applied_counters": {"hit": ["x"]},
    },
]


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"\n".join(json.dumps(line).encode() for line in [HEADER, *lines]) + b"\n"


@dataclass
class Kit:
    """One backend's transfer service with its vector index."""

    transfer: MemoryTransfer
    store: TransferStore
    vectors: VectorIndex
    close: Callable[[], Awaitable[None]]


async def _kit(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> Kit:
    embedder = HashingEmbedder(DIM)
    if kind == "sqlite":
        db = Database(tmp_path / f"{name}.db")
        await db.open()
        vectors: Any = LanceVectorIndex(tmp_path / f"{name}-lance", dim=DIM)
        await vectors.open()
        semantic: Any = SqliteSemanticStore(db)
        store: Any = SqliteTransferStore(db)

        async def close() -> None:
            await vectors.close()
            await db.close()

    else:
        server = request.getfixturevalue("pg_server")
        database = f"t_{uuid.uuid4().hex[:16]}"  # source and target each get their own
        server.psql(f"CREATE DATABASE {database};")
        pg = PgDatabase(database_url(server, database), max_size=4)
        await pg.open()
        vectors = PgVectorIndex(pg, dim=DIM)
        await vectors.open()
        semantic = PgSemanticStore(pg)
        store = PgTransferStore(pg, drain=semantic.drain)
        close = pg.close
    transfer = MemoryTransfer(
        store=store,
        semantic=semantic,
        vectors=vectors,
        embedder=embedder,
        clock=Clock(),
        embed_batch=3,
        page_size=2,
    )
    return Kit(transfer, store, vectors, close)


@pytest.fixture
async def kits(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Kit, Kit]]:
    """Source and target kits of the parametrised backends (``request.param``)."""
    source_kind, target_kind = request.param
    source = await _kit(source_kind, tmp_path, request, "source")
    target = await _kit(target_kind, tmp_path, request, "target")
    yield source, target
    await source.close()
    await target.close()


async def _export(kit: Kit, user_id: str) -> list[dict[str, Any]]:
    lines = kit.transfer.export_lines(
        user_id=user_id, include_sessions=True, include_usage_logs=True
    )
    parsed = [json.loads(line) async for line in lines]
    parsed[0].pop("exported_at")
    return parsed


async def _import(kit: Kit, user_id: str, body: bytes) -> dict[str, Any]:
    report = await kit.transfer.import_lines(user_id=user_id, lines=kit.transfer.parse(body))
    return report.as_dict()


PAIRS = [
    ("sqlite", "postgres"),
    ("postgres", "sqlite"),
    ("postgres", "postgres"),
    ("sqlite", "sqlite"),
]


@pytest.mark.parametrize("kits", PAIRS, indirect=True, ids=lambda p: "->".join(p))
async def test_export_import_round_trip_is_lossless_across_backends(
    kits: tuple[Kit, Kit],
) -> None:
    source, target = kits
    first = await _import(source, "alice", _jsonl(LINES))
    assert first["skipped"] == 0
    assert [e["line"] for e in first["errors"]] == [14]  # s2's watermark lowered to its turns
    assert first["imported"] == {
        "records": 4,
        "composites": 2,
        "skills": 1,
        "sessions": 2,
        "turns": 4,
        "summaries": 1,
        "usage_logs": 1,
    }
    exported = await _export(source, "alice")
    assert exported[0]["counts"] == {
        "records": 4,
        "composites": 2,
        "skills": 1,
        "sessions": 2,
        "turns": 4,
        "summaries": 1,
        "usage_logs": 1,
    }
    body = _jsonl(exported[1:])
    second = await _import(target, "alice", body)
    assert second["skipped"] == 0 and second["errors"] == []
    again = await _export(target, "alice")
    assert again == exported
    by_type = {line["type"]: line for line in again}
    assert by_type["usage_log"]["log_id"] == "log_1"
    assert by_type["skill"]["skill_id"] == "sk_release"
    records = [line for line in again if line["type"] == "record"]
    assert any(r["superseded_by"] == records[1]["record_id"] for r in records)
    assert await target.vectors.count("memory_records", "alice") == 4
    assert await target.vectors.count("composite_records", "alice") == 2
    assert await target.vectors.count("skills", "alice") == 1


@pytest.mark.parametrize("kits", PAIRS[:2], indirect=True, ids=lambda p: "->".join(p))
async def test_importing_twice_adds_nothing_and_tenants_stay_apart(
    kits: tuple[Kit, Kit],
) -> None:
    source, target = kits
    await _import(source, "alice", _jsonl(LINES))
    body = _jsonl((await _export(source, "alice"))[1:])
    await _import(target, "alice", body)
    before = await target.store.export_counts("alice")
    repeat = await _import(target, "alice", body)
    assert repeat["skipped"] == 4 + 1 + 1  # every turn, the summary and the usage log
    assert await target.store.export_counts("alice") == before
    assert await _export(target, "alice") == await _export(source, "alice")
    # another tenant importing the same file gets its own ids; alice's rows are untouched
    bob = await _import(target, "bob", body)
    assert bob["imported"]["records"] == 4 and bob["imported"]["usage_logs"] == 1
    bobs = await _export(target, "bob")
    assert {line["type"] for line in bobs[1:]} >= {"record", "skill", "usage_log"}
    alice_ids = {line.get("record_id") for line in await _export(target, "alice")}
    assert not alice_ids & {line.get("record_id") for line in bobs if line["type"] == "record"}
    bob_skill = next(line for line in bobs if line["type"] == "skill")
    assert bob_skill["skill_id"] != "sk_release"  # the id is alice's: regenerated for bob
    assert await target.store.export_counts("alice") == before
