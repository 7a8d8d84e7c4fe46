"""``lycheemem migrate --to postgresql://...`` end to end against the tests' real PostgreSQL.

A data directory is built through the real app (registration, appended turns, synchronous
consolidation), the real command line moves it in a subprocess, and the PostgreSQL stores
are then opened to find the same accounts, records, sessions and vectors.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from memory_support import remember, user_id_of
from test_cli_errors import ROOT, assert_one_line_error

from lycheemem.app import create_app
from lycheemem.auth.passwords import verify_password
from lycheemem.config import Settings
from lycheemem.errors import ConfigError
from lycheemem.longdoc.pg_bank import PgChunkBank
from lycheemem.migrate import Progress, check_url, redact_url
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.transfer import PgTransferStore
from lycheemem.storage.postgres.users import PgUserStore
from lycheemem.storage.postgres.vectors import PgVectorIndex
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.transfer import SqliteTransferStore

# `migrate --to` moves an embedded data directory: its source is the embedded backend.


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGS`` with only ``env`` as LycheeMem settings; a migration loads the
    embedder and PostgreSQL, so it gets more time than the start-up checks of test_cli_errors."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEEMEM_")}
    clean |= {"PYTHONPATH": str(ROOT / "src")} | env
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


ALICE_FACTS = [
    "I always book an aisle seat on long flights.",
    "My sister Mara lives in Lisbon and works as a marine biologist.",
]
LONG_TEXT = "\n\n".join(
    f"Paragraph {n}: the harbour council reviewed the bridge plans again." for n in range(60)
)
# each migration is a subprocess that loads the embedder: generous on a loaded 2-core machine
pytestmark = [pytest.mark.embedded_only, pytest.mark.timeout(420)]
ANON_FACTS = ["The staging database is backed up every night at 02:00."]


def _build_data_dir(settings: Settings) -> dict[str, Any]:
    """Register alice, teach her (and the anonymous tenant) a few facts; return what was made."""
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/auth/register", json={"username": "alice", "password": "correct-horse-1"}
        )
        assert response.status_code == 200, response.text
        alice = {"Authorization": f"Bearer {response.json()['token']}"}
        remember(client, "trip", ALICE_FACTS, headers=alice)
        remember(client, "ops", ANON_FACTS)
        created = client.post(
            "/longdoc/documents",
            json={"title": "notes", "text": LONG_TEXT, "chunk_tokens": 128},
            headers=alice,
        )
        assert created.status_code == 200, created.text
        doc_id = created.json()["doc_id"]
        for _ in range(500):
            status = client.get(f"/longdoc/documents/{doc_id}", headers=alice).json()["status"]
            if status == "ready":
                break
            time.sleep(0.02)
        assert status == "ready"
        search = client.post(
            "/memory/search", json={"query": "aisle seat", "session_id": "trip"}, headers=alice
        )
        assert search.status_code == 200, search.text
        return {"alice": user_id_of(client, alice), "doc_id": doc_id}


async def _sqlite_counts(settings: Settings, user_ids: list[str]) -> dict[str, dict[str, int]]:
    db = Database(settings.db_path)
    await db.open()
    try:
        store = SqliteTransferStore(db)
        return {user_id: await store.export_counts(user_id) for user_id in user_ids}
    finally:
        await db.close()


async def _pg_view(url: str, alice: str, doc_id: str = "") -> dict[str, Any]:
    """What the PostgreSQL stores hold for alice (and the anonymous tenant) after migrating."""
    db = PgDatabase(url)
    await db.open()
    try:
        store = PgTransferStore(db)
        records, _ = await store.record_page(alice, None, 100)
        semantic = PgSemanticStore(db)
        found = await semantic.records(alice, [r.record_id for r in records])
        user = await PgUserStore(db).by_username("alice")
        turns = await PgSessionStore(db).turns(alice, "trip")
        anon_records, _ = await store.record_page("", None, 100)
        vectors = PgVectorIndex(db, dim=256)
        texts = {r.record_id: r.semantic_text for r in records}
        bank = PgChunkBank(db, dim=256)
        doc = await bank.get_document(alice, doc_id)
        chunks = await bank.load_chunks(alice, doc_id)
        doc_vectors = await bank.get_vectors(alice, doc_id, len(chunks))
        return {
            "counts": {u: await store.export_counts(u) for u in (alice, "")},
            "texts": sorted(texts.values()),
            "found": sorted(found),
            "user": user,
            "turns": [t.content for t in turns],
            "anon_texts": sorted(r.semantic_text for r in anon_records),
            "vector_count": await vectors.count("memory_records", alice),
            "doc": doc,
            "notes": [c.note for c in chunks],
            "doc_vectors": None if doc_vectors is None else doc_vectors.shape,
            "texts_joined": "".join(await bank.load_texts(alice, doc_id)),
        }
    finally:
        await db.close()


def test_migrate_moves_a_data_dir_into_postgresql_and_is_idempotent(
    settings: Settings, tmp_path: Path, pg_url: str
) -> None:
    made = _build_data_dir(settings)
    alice = made["alice"]
    (settings.data_dir / "jwt_secret").write_text("ab" * 32, encoding="utf-8")
    env = {"LYCHEEMEM_DATA_DIR": str(settings.data_dir)}
    done = run_cli(tmp_path, "migrate", "--to", pg_url, **env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "rows" in done.stderr and "100%" in done.stderr  # the progress bar (plain lines)
    assert "every count matches" in done.stderr
    source = asyncio.run(_sqlite_counts(settings, [alice, ""]))
    assert source[alice]["records"] >= 2 and source[alice]["turns"] == 2
    assert source[alice]["usage_logs"] >= 1 and source[""]["records"] >= 1
    view = asyncio.run(_pg_view(pg_url, alice, made["doc_id"]))
    assert view["counts"] == source
    assert len(view["found"]) == source[alice]["records"]  # the PG semantic store finds them
    assert any("aisle seat" in text for text in view["texts"])
    assert any("staging database" in text for text in view["anon_texts"])
    assert view["turns"] == ALICE_FACTS
    assert view["vector_count"] == source[alice]["records"]
    doc = view["doc"]
    assert doc is not None and doc.status == "ready" and doc.chunks_done == doc.n_chunks > 1
    assert all(view["notes"]) and view["doc_vectors"] == (doc.n_chunks, 256)
    assert view["texts_joined"].startswith("Paragraph 0:")
    assert any(
        line.startswith("documents") and line.split()[1:3] == ["1", "1"]
        for line in done.stderr.splitlines()
    )
    user = view["user"]
    assert user is not None and user.user_id == alice
    assert verify_password(user.password_hash, "correct-horse-1")
    table = done.stderr.splitlines()
    assert any(line.startswith("records") for line in table)

    with psycopg.connect(pg_url) as conn:
        secret = conn.execute("SELECT value FROM meta WHERE key = 'jwt_secret'").fetchone()
    assert secret == ("ab" * 32,)  # tokens of the embedded server stay valid

    again = run_cli(tmp_path, "migrate", "--to", pg_url, **env)
    assert again.returncode == 0, again.stderr
    assert asyncio.run(_pg_view(pg_url, alice, made["doc_id"]))["counts"] == source


def test_migrate_reports_differing_counts_with_a_non_zero_exit(
    settings: Settings, tmp_path: Path, pg_url: str
) -> None:
    """Rows PostgreSQL holds beyond the data directory's make the verification fail."""
    made = _build_data_dir(settings)
    env = {"LYCHEEMEM_DATA_DIR": str(settings.data_dir)}
    assert run_cli(tmp_path, "migrate", "--to", pg_url, **env).returncode == 0

    async def extra_session() -> None:
        db = PgDatabase(pg_url)
        await db.open()
        async with db.tenant(made["alice"]) as conn:
            await conn.execute(
                "INSERT INTO sessions (user_id, session_id, created_at, updated_at)"
                " VALUES (%s, 'only-in-pg', 'x', 'x')",
                (made["alice"],),
            )
        await db.close()

    asyncio.run(extra_session())
    result = run_cli(tmp_path, "migrate", "--to", pg_url, **env)
    assert result.returncode == 1, result.stderr
    assert "MISMATCH" in result.stderr and "row counts differ" in result.stderr
    assert made["alice"] in result.stderr.splitlines()[-1]


async def _empty_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    db = Database(settings.db_path)
    await db.open()
    await db.close()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:secret@host/db", "must be a PostgreSQL URL"),
        ("not a url", "must be a PostgreSQL URL"),
        ("postgresql://u:secret@127.0.0.1:1/db", "cannot use PostgreSQL at"),
    ],
)
def test_a_bad_or_unreachable_url_is_one_line(
    settings: Settings, tmp_path: Path, url: str, fragment: str
) -> None:
    asyncio.run(_empty_data_dir(settings))
    result = run_cli(tmp_path, "migrate", "--to", url, LYCHEEMEM_DATA_DIR=str(settings.data_dir))
    assert_one_line_error(result, fragment)
    assert "secret" not in result.stderr  # the password never reaches the terminal


def test_url_checks_and_redaction() -> None:
    check_url("postgresql://u:p@db.example:5432/lycheemem")
    check_url("postgresql:///lycheemem?host=/run/postgresql")
    with pytest.raises(ConfigError):
        check_url("postgresql://")
    assert redact_url("postgresql://u:p4ss@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgresql://h/db") == "postgresql://h/db"


def test_progress_is_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    with (tmp_path / "out.txt").open("w+") as stream:
        progress = Progress(10, stream, width=10)
        progress.advance(4, "tenant 1/2")
        progress.advance(6, "tenant 2/2")
        progress.finish()
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines == [
        "[####------]  40% 4/10 rows  tenant 1/2",
        "[##########] 100% 10/10 rows  tenant 2/2",
    ]
    assert not any("\r" in line for line in lines)
