"""Helpers of the MCP tests: a real uvicorn server on 127.0.0.1 and the SDK client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from lycheemem.app import create_app
from lycheemem.testing import make_test_settings, serve_in_thread

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass(slots=True)
class LiveServer:
    """A running server: its base URL and REST helpers."""

    base: str

    @property
    def mcp_url(self) -> str:
        """The MCP endpoint."""
        return f"{self.base}/mcp"

    def register(self, username: str, display_name: str | None = None) -> str:
        """Create an account over REST and return its JWT."""
        body = {"username": username, "password": "correct-horse-1", "display_name": display_name}
        response = httpx.post(f"{self.base}/auth/register", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def rest(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """Call a REST route; assert 200 and return the JSON body."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.request(
            method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs
        )
        assert response.status_code == 200, response.text
        return response.json()


def skip_unless_ci(reason: str) -> None:
    """Skip a test whose tooling is missing on a developer machine; fail it under CI.

    ``make test`` installs that tooling, so on CI (``CI`` set) a missing piece is a broken
    setup that must not pass as a skip.
    """
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"required on CI: {reason}")
    pytest.skip(reason)


def _clean_settings(tmp: Path, **overrides: Any) -> Any:
    # Module-scoped servers are built before the per-test env cleaner runs.
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LYCHEEMEM_"):
                patch.delenv(name, raising=False)
        return make_test_settings(tmp, **overrides)


@contextmanager
def run_server(tmp: Path, **overrides: Any) -> Iterator[LiveServer]:
    """Serve ``create_app`` with uvicorn in a daemon thread until the block exits."""
    app = create_app(_clean_settings(tmp, **overrides))
    with serve_in_thread(app, lifespan="on") as base:
        yield LiveServer(base=base)


@asynccontextmanager
async def mcp_client(
    live: LiveServer, token: str | None = None, mode: str = "legacy"
) -> AsyncIterator[Client]:
    """The SDK's own client over streamable HTTP, optionally with a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30, read=300), follow_redirects=True
    ) as http_client:
        transport = streamable_http_client(live.mcp_url, http_client=http_client)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client
