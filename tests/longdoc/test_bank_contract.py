"""The ``ChunkStore`` contract on both backends: SQLite + LanceDB and PostgreSQL + pgvector.

Every test runs against a fresh bank of each backend (a real SQLite file and LanceDB
directory in tmp_path; a fresh database on the test session's real PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from longdoc_support import make_settings, planted_document

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.bank_factory import build_bank
from lycheemem.longdoc.chunker import Chunk
from lycheemem.longdoc.pg_bank import PgChunkBank
from lycheemem.longdoc.ports import ChunkStore, NewDocument
from lycheemem.longdoc.service import LongDocService
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.sqlite.database import Database
from lycheemem.testing import HashingEmbedder

pytestmark = pytest.mark.anyio
T0 = "2026-05-01T12:00:00.000Z"
T1 = "2026-05-01T12:05:00.000Z"
DIM = 8


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """An opened database of the parametrised backend."""
    if request.param == "sqlite":
        db: Any = Database(tmp_path / "bank.db", synchronous="NORMAL")
    else:
        db = PgDatabase(request.getfixturevalue("pg_url"))
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def bank(backend: Any, tmp_path: Path) -> AsyncIterator[ChunkStore]:
    """An opened bank on the backend's database."""
    store = build_bank(backend, lance_dir=tmp_path / "lance", dim=DIM)
    await store.open()
    yield store
    await store.close()


def _doc(user_id: str, doc_id: str, now: str = T0) -> NewDocument:
    return NewDocument(
        user_id=user_id,
        doc_id=doc_id,
        title=f"title of {doc_id}",
        metadata={"source": "test", "n": 1},
        n_chars=30,
        n_tokens=9,
        chunk_tokens=256,
        ratio=4,
        backend="heuristic",
        now=now,
    )


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(i, i * 10, i * 10 + 10, f"chunk text {i}", 3) for i in range(n)]


async def test_documents_are_stored_listed_and_scoped_to_their_tenant(bank: ChunkStore) -> None:
    await bank.insert_document(_doc("alice", "d1"), _chunks(3), [{"a": 1}, {"b": 2}, {}])
    await bank.insert_document(_doc("alice", "d2", T1), _chunks(1), [{}])
    await bank.insert_document(_doc("bob", "d1"), _chunks(2), [{}, {}])
    doc = await bank.get_document("alice", "d1")
    assert doc is not None and doc.status == "queued" and doc.n_chunks == 3
    assert doc.metadata == {"source": "test", "n": 1} and doc.title == "title of d1"
    listed, total = await bank.list_documents("alice", offset=0, limit=10)
    assert total == 2 and [d.doc_id for d in listed] == ["d2", "d1"]
    page, total = await bank.list_documents("alice", offset=1, limit=1)
    assert total == 2 and [d.doc_id for d in page] == ["d1"]
    assert await bank.get_document("carol", "d1") is None
    assert sorted(await bank.unfinished_documents()) == [
        ("alice", "d1"),
        ("alice", "d2"),
        ("bob", "d1"),
    ]
    await bank.set_status("alice", "d2", "failed", now=T1, error="model gone")
    failed = await bank.get_document("alice", "d2")
    assert failed is not None and failed.status == "failed" and failed.error == "model gone"
    assert ("alice", "d2") not in await bank.unfinished_documents()


async def test_notes_progress_and_texts(bank: ChunkStore) -> None:
    await bank.insert_document(_doc("alice", "d1"), _chunks(3), [{"x": 1}, {"y": 2}, {"z": 3}])
    assert [c[0] for c in await bank.uncompressed_chunks("alice", "d1")] == [0, 1, 2]
    await bank.save_notes("alice", "d1", [(0, "note zero", 2), (2, "note two", 4)], now=T1)
    assert await bank.uncompressed_chunks("alice", "d1") == [(1, "chunk text 1", 3)]
    doc = await bank.get_document("alice", "d1")
    assert doc is not None and (doc.chunks_done, doc.note_tokens, doc.updated_at) == (2, 6, T1)
    chunks = await bank.load_chunks("alice", "d1")
    assert [(c.index, c.note, c.note_tokens, c.terms) for c in chunks] == [
        (0, "note zero", 2, {"x": 1}),
        (1, "", 0, {"y": 2}),
        (2, "note two", 4, {"z": 3}),
    ]
    assert await bank.load_texts("alice", "d1") == [f"chunk text {i}" for i in range(3)]
    assert await bank.load_texts("bob", "d1") == [] and await bank.load_chunks("bob", "d1") == []


async def test_vectors_are_replaced_per_document_and_deleted_with_it(bank: ChunkStore) -> None:
    await bank.insert_document(_doc("alice", "d1"), _chunks(2), [{}, {}])
    await bank.insert_document(_doc("bob", "d1"), _chunks(2), [{}, {}])
    first = np.arange(2 * DIM, dtype=np.float32).reshape(2, DIM)
    await bank.put_vectors("alice", "d1", first)
    await bank.put_vectors("alice", "d1", first + 1)
    await bank.put_vectors("bob", "d1", -first)
    got = await bank.get_vectors("alice", "d1", 2)
    assert got is not None and np.allclose(got, first + 1)
    assert await bank.get_vectors("alice", "d1", 3) is None
    bobs = await bank.get_vectors("bob", "d1", 2)
    assert bobs is not None and np.allclose(bobs, -first)
    assert await bank.delete_document("alice", "d1") is True
    assert await bank.delete_document("alice", "d1") is False
    assert await bank.get_vectors("alice", "d1", 2) is None
    assert await bank.get_document("alice", "d1") is None
    assert await bank.load_texts("alice", "d1") == []
    assert await bank.get_document("bob", "d1") is not None


async def test_postgres_bank_rows_sit_behind_row_level_security(pg_url: str) -> None:
    """A deliberately unfiltered query in alice's transaction sees none of bob's rows."""
    db = PgDatabase(pg_url)
    await db.open()
    bank = PgChunkBank(db, dim=DIM)
    await bank.open()
    try:
        await bank.insert_document(_doc("alice", "d1"), _chunks(1), [{}])
        await bank.insert_document(_doc("bob", "d2"), _chunks(2), [{}, {}])
        await bank.put_vectors("bob", "d2", np.ones((2, DIM), dtype=np.float32))
        async with db.tenant("alice") as conn:
            counts = []
            for table in ("longdoc_documents", "longdoc_chunks", "longdoc_chunk_vectors"):
                cur = await conn.execute(f"SELECT user_id FROM {table}")
                counts.append({row["user_id"] for row in await cur.fetchall()})
        assert counts == [{"alice"}, {"alice"}, set()]
        with psycopg.connect(pg_url) as conn:
            unprotected = conn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE 'longdoc%%'"
                " AND relkind = 'r' AND NOT relrowsecurity"
            ).fetchall()
        assert unprotected == []
    finally:
        await db.close()


async def test_a_bank_of_another_dimension_drops_the_old_vectors(backend: Any, tmp_path) -> None:
    old = build_bank(backend, lance_dir=tmp_path / "lance", dim=DIM)
    await old.open()
    await old.insert_document(_doc("alice", "d1"), _chunks(1), [{}])
    await old.put_vectors("alice", "d1", np.ones((1, DIM), dtype=np.float32))
    await old.close()
    new = build_bank(backend, lance_dir=tmp_path / "lance", dim=DIM * 2)
    await new.open()
    assert await new.get_vectors("alice", "d1", 1) is None
    await new.put_vectors("alice", "d1", np.ones((1, DIM * 2), dtype=np.float32))
    got = await new.get_vectors("alice", "d1", 1)
    assert got is not None and got.shape == (1, DIM * 2)
    await new.close()


async def test_the_service_answers_over_a_bank_of_either_backend(
    backend: Any, tmp_path: Path, counter: TokenCounter
) -> None:
    """End to end: compress a document into the bank, then ask a two-hop question over it."""
    facts = {
        9: "Quorvane Tesselby lives in the city of Mirrowfall.",
        31: "The Zephyrine lamp was designed by Quorvane Tesselby.",
    }
    bank = build_bank(backend, lance_dir=tmp_path / "lance", dim=64)
    service = LongDocService(make_settings(chunk_tokens=256), bank, HashingEmbedder(64), counter)
    await service.start()
    try:
        text = planted_document(40, facts)
        doc = await service.create_document("alice", title="haystack", text=text)
        ready = await service.wait_ready("alice", doc.doc_id)
        assert ready.status == "ready" and ready.chunks_done == ready.n_chunks
        question = "In which city does the designer of the Zephyrine lamp live?"
        result = await service.ask("alice", doc_id=doc.doc_id, question=question)
        assert "Mirrowfall" in result.answer
    finally:
        await service.close()


async def test_a_document_copies_exactly_once_with_its_notes(bank: ChunkStore) -> None:
    """``stored_chunks`` + ``copy_document`` (what ``lycheemem migrate`` uses) keep every
    column; a second copy changes nothing."""
    await bank.insert_document(_doc("alice", "d1"), _chunks(2), [{"a": 1}, {"b": 2}])
    await bank.save_notes("alice", "d1", [(0, "note zero", 2)], now=T1)
    info = await bank.get_document("alice", "d1")
    assert info is not None
    chunks = await bank.stored_chunks("alice", "d1")
    assert [(c.index, c.start, c.end, c.terms, c.note) for c in chunks] == [
        (0, 0, 10, {"a": 1}, "note zero"),
        (1, 10, 20, {"b": 2}, None),
    ]
    assert await bank.copy_document("bob", info, chunks) is True
    assert await bank.stored_chunks("bob", "d1") == chunks
    copied = await bank.get_document("bob", "d1")
    assert copied == info
    assert await bank.copy_document("bob", info, chunks[:1]) is False
    assert await bank.stored_chunks("bob", "d1") == chunks
