"""A caller flooding ``initialize`` only ever holds its own few sessions; others keep working."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp_support import MCP_HEADERS, LiveServer, run_server

CAP = 3


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server allowing ``CAP`` open MCP sessions per caller, replacing idle ones at once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lycheemem.mcp.server.EVICT_IDLE_S", 0.0)
        with run_server(tmp_path_factory.mktemp("quota"), mcp_sessions_per_caller=CAP) as live:
            yield live


@pytest.fixture(scope="module")
def strict_cap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a 30 s eviction delay (the default): fresh sessions are never replaced."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("lycheemem.mcp.server.EVICT_IDLE_S", 30.0)
        with run_server(tmp_path_factory.mktemp("q429"), mcp_sessions_per_caller=CAP) as live:
            yield live


def _headers(token: str | None, session: str | None = None) -> dict[str, str]:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-03-26"
    return headers


def _post(live: LiveServer, message: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(live.mcp_url, json=message, headers=headers, timeout=30)


def _opening(live: LiveServer, token: str | None = None) -> httpx.Response:
    params = {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "quota-test", "version": "0"},
    }
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    return _post(live, message, _headers(token))


def _initialize(live: LiveServer, token: str | None = None) -> str:
    response = _opening(live, token)
    assert response.status_code == 200, response.text
    session = response.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert _post(live, note, _headers(token, session)).status_code == 202
    return session


def _works(live: LiveServer, token: str | None, session: str) -> int:
    message = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    return _post(live, message, _headers(token, session)).status_code


def test_initialize_flood_evicts_only_the_flooders_oldest_sessions(capped: LiveServer) -> None:
    alice = capped.register("quota-alice")
    alice_session = _initialize(capped, alice)
    flood = [_initialize(capped) for _ in range(CAP + 3)]
    assert [_works(capped, None, s) for s in flood] == [404] * 3 + [200] * CAP
    assert _works(capped, alice, alice_session) == 200
    another = [_initialize(capped, alice) for _ in range(CAP - 1)]
    assert all(_works(capped, alice, s) == 200 for s in [alice_session, *another])


def test_a_users_tokens_share_one_quota(capped: LiveServer) -> None:
    bob = capped.register("quota-bob")
    sessions = [_initialize(capped, bob) for _ in range(CAP + 1)]
    assert _works(capped, bob, sessions[0]) == 404
    assert all(_works(capped, bob, s) == 200 for s in sessions[1:])


def test_flood_of_fresh_sessions_gets_429_for_the_flooder_only(strict_cap: LiveServer) -> None:
    carol = strict_cap.register("quota-carol")
    held = [_initialize(strict_cap) for _ in range(CAP)]
    refused = [_opening(strict_cap).status_code for _ in range(3)]
    assert refused == [429] * 3
    assert all(_works(strict_cap, None, s) == 200 for s in held)
    assert _works(strict_cap, carol, _initialize(strict_cap, carol)) == 200
