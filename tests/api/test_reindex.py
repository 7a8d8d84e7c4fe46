"""``python main.py reindex``: rebuild the vectors for a new embedder, then start with it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import lancedb
import pytest
from fastapi.testclient import TestClient
from memory_support import RELEASE_STEPS, SEAT_FACTS, all_items, remember

from lycheemem.app import create_app
from lycheemem.cli import main
from lycheemem.config import Settings
from lycheemem.errors import EmbeddingMismatch
from lycheemem.reindex import reindex
from lycheemem.storage.lance.vector_index import LanceVectorIndex
from lycheemem.testing import HashingEmbedder, make_test_settings

# Reaches into the embedded SQLite file to plant rows; the routes it proves are the same
# code on PostgreSQL (covered by the storage contract suites there).
pytestmark = pytest.mark.embedded_only


def _meta(settings: Settings) -> dict[str, str]:
    with sqlite3.connect(settings.db_path) as conn:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _unindexed(settings: Settings) -> int:
    with sqlite3.connect(settings.db_path) as conn:
        return sum(
            conn.execute(f"SELECT COUNT(*) FROM {table} WHERE indexed = 0").fetchone()[0]
            for table in ("memory_records", "composite_records", "skills")
        )


def _vector_dim(client: TestClient, record_id: str) -> int:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    found = client.portal.call(ctx.vectors.get_vectors, "memory_records", "", [record_id])  # type: ignore[union-attr]
    return int(found[record_id].shape[0])


def _search_texts(client: TestClient, query: str) -> list[str]:
    body = client.post("/memory/search", json={"query": query}).json()
    provenance = body["semantic_results"][0]["provenance"] if body["semantic_results"] else []
    return [item["semantic_text"] for item in provenance]


@pytest.fixture
def built(tmp_path: Path) -> dict[str, Any]:
    """A data directory whose memories were embedded with a 32-d hashing embedder."""
    settings = make_test_settings(tmp_path)
    with TestClient(create_app(settings, embedder=HashingEmbedder(32))) as client:
        remember(client, "s1", [*SEAT_FACTS, RELEASE_STEPS])
        items = all_items(client, include_expired=True)
        skills = client.get("/memory/skills").json()["total"]
        assert _vector_dim(client, items[-1]["record_id"]) == 32
    return {"settings": settings, "items": items, "skills": skills}


def test_reindex_rebuilds_every_table_at_the_new_dimension(built: dict[str, Any]) -> None:
    settings: Settings = built["settings"]
    refused = TestClient(create_app(settings, embedder=HashingEmbedder(48)))
    with pytest.raises(EmbeddingMismatch, match="reindex"), refused:
        pass
    counts = asyncio.run(reindex(settings, embedder=HashingEmbedder(48), batch_size=2))
    items = built["items"]
    assert counts == {
        "records": sum(1 for i in items if i["kind"] == "record"),
        "composites": sum(1 for i in items if i["kind"] == "composite"),
        "skills": built["skills"],
        "dim": 48,
    }
    assert counts["records"] >= 5 and counts["skills"] == 1
    assert _meta(settings)["embedding_dim"] == "48"
    assert _meta(settings)["embedding_model"] == "hashing"
    assert _unindexed(settings) == 0
    with TestClient(create_app(settings, embedder=HashingEmbedder(48))) as client:
        record = next(i for i in items if i["kind"] == "record")
        assert _vector_dim(client, record["record_id"]) == 48
        assert "The user prefers window seats on flights." in _search_texts(
            client, "window seats on flights"
        )
        status = client.get("/pipeline/status").json()
        assert status["record_count"] == counts["records"]
        assert status["embedding_model"] == "hashing"


def test_reindex_keeps_other_tables_in_the_vector_directory(built: dict[str, Any]) -> None:
    settings: Settings = built["settings"]
    before = set(lancedb.connect(str(settings.lance_dir)).list_tables().tables)
    assert "longdoc_chunk_vectors" in before
    asyncio.run(reindex(settings, embedder=HashingEmbedder(32)))
    after = set(lancedb.connect(str(settings.lance_dir)).list_tables().tables)
    assert after == before


def test_cli_reindex_uses_the_configured_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_test_settings(tmp_path)
    with TestClient(create_app(settings, embedder=HashingEmbedder(32))) as client:
        remember(client, "s1", SEAT_FACTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LYCHEEMEM_DATA_DIR", str(settings.data_dir))
    assert main(["reindex"]) == 0
    assert "'records': 5" in capsys.readouterr().out
    assert _meta(settings)["embedding_model"] == "wordllama"
    with TestClient(create_app(settings)) as client:
        assert "The user prefers window seats on flights." in _search_texts(client, "window seats")


def test_reindex_deletes_the_saved_vector_indexes(built: dict[str, Any], tmp_path: Path) -> None:
    settings: Settings = built["settings"]
    # A recreated table restarts its version numbers: what a fresh one has after open.
    fresh = LanceVectorIndex(tmp_path / "fresh" / "lance", dim=48)
    asyncio.run(fresh.open())
    version = fresh.table("memory_records").version
    asyncio.run(fresh.close())
    saved = settings.data_dir / "vector-index" / "0123"
    saved.mkdir(parents=True)
    meta = {
        "table": "memory_records",
        "table_version": version,
        "rows_file": "r",
        "state_file": "s",
    }
    (saved / "meta.json").write_text(json.dumps(meta))

    asyncio.run(reindex(settings, embedder=HashingEmbedder(48), batch_size=8))

    assert not saved.exists()
