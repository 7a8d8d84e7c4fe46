"""Fixtures of the MCP tests: one live server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_support import LiveServer, run_server

from pg_support import backend_overrides


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """A server with anonymous access allowed (the default), on each backend."""
    overrides = backend_overrides(request, backend)
    with run_server(tmp_path_factory.mktemp("mcp"), **overrides) as live:
        yield live
