"""Fixtures of the MCP tests: one live server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp_support import LiveServer, run_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with anonymous access allowed (the default)."""
    with run_server(tmp_path_factory.mktemp("mcp")) as live:
        yield live
