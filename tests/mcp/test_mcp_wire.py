"""Raw HTTP against /mcp: session header rules, notifications, SSE, DELETE, auth and hosts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from mcp_support import MCP_HEADERS, LiveServer, run_server

from lycheemem.auth.tokens import TokenService
from lycheemem.testing import TEST_JWT_SECRET

HANDSHAKE_VERSIONS = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with ``LYCHEEMEM_REQUIRE_AUTH=true``."""
    with run_server(tmp_path_factory.mktemp("strict"), require_auth=True) as live:
        yield live


def _headers(token: str | None = None, session: str | None = None, **extra: str) -> dict[str, str]:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-03-26"
    headers.update(extra)
    return headers


def _rpc(method: str, params: dict[str, Any] | None = None, rid: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if rid is not None:
        message["id"] = rid
    return message


def _post(live: LiveServer, message: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        live.mcp_url, json=message, headers=headers, timeout=30, follow_redirects=False
    )


def _initialize(
    live: LiveServer, token: str | None = None, version: str = "2025-03-26"
) -> tuple[httpx.Response, str]:
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "wire-test", "version": "0"},
    }
    response = _post(live, _rpc("initialize", params), _headers(token))
    return response, response.headers.get("mcp-session-id", "")


def _open(live: LiveServer, token: str | None = None) -> str:
    response, session = _initialize(live, token)
    assert response.status_code == 200, response.text
    done = _post(live, _rpc("notifications/initialized", rid=None), _headers(token, session))
    assert done.status_code == 202
    return session


def _list_tools(live: LiveServer, token: str | None, session: str | None) -> httpx.Response:
    return _post(live, _rpc("tools/list", {}, rid=2), _headers(token, session))


@pytest.mark.embedded_only  # sessions exist only in stateful mode (PostgreSQL is stateless)
def test_initialize_issues_a_session_and_answers_json(server: LiveServer) -> None:
    response, session = _initialize(server)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert len(session) >= 16
    result = response.json()["result"]
    assert result["protocolVersion"] == "2025-03-26"
    assert result["serverInfo"]["name"] == "lycheemem"
    assert "lychee_memory_smart_search" in result["instructions"]
    assert "tools" in result["capabilities"]

    done = _post(server, _rpc("notifications/initialized", rid=None), _headers(None, session))
    assert done.status_code == 202 and done.content == b""
    listed = _list_tools(server, None, session)
    assert listed.status_code == 200
    names = {tool["name"] for tool in listed.json()["result"]["tools"]}
    assert "lychee_memory_append_turn" in names and len(names) == 7


@pytest.mark.parametrize("version", ["2024-11-05", "2025-06-18", "2025-11-25", "1999-01-01"])
def test_protocol_version_is_negotiated(server: LiveServer, backend: str, version: str) -> None:
    response, session = _initialize(server, version=version)
    assert response.status_code == 200 and bool(session) == (backend == "embedded")
    agreed = response.json()["result"]["protocolVersion"]
    assert agreed == version if version in HANDSHAKE_VERSIONS else agreed in HANDSHAKE_VERSIONS


@pytest.mark.embedded_only  # sessions exist only in stateful mode (PostgreSQL is stateless)
def test_session_header_rules(server: LiveServer) -> None:
    assert _list_tools(server, None, None).status_code == 400
    assert _list_tools(server, None, uuid.uuid4().hex).status_code == 404
    session = _open(server)
    assert _list_tools(server, None, session).status_code == 200


def test_on_postgres_every_request_stands_alone(server: LiveServer, backend: str) -> None:
    """Replicas behind a load balancer share no MCP session table: on PostgreSQL the endpoint
    is stateless (no session id is issued or needed); embedded, a session is required."""
    response, session = _initialize(server)
    assert response.status_code == 200
    listed = _list_tools(server, None, None)
    if backend == "postgres":
        assert session == ""
        assert listed.status_code == 200
        assert len(listed.json()["result"]["tools"]) == 7
    else:
        assert session and listed.status_code == 400


def test_get_opens_an_event_stream(server: LiveServer) -> None:
    session = _open(server)
    headers = _headers(None, session, Accept="text/event-stream")
    with httpx.stream("GET", server.mcp_url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")


@pytest.mark.embedded_only  # sessions exist only in stateful mode (PostgreSQL is stateless)
def test_delete_ends_the_session(server: LiveServer) -> None:
    session = _open(server)
    deleted = httpx.delete(server.mcp_url, headers=_headers(None, session), timeout=30)
    assert deleted.status_code == 200
    assert _list_tools(server, None, session).status_code == 404
    again = httpx.delete(server.mcp_url, headers=_headers(None, session), timeout=30)
    assert again.status_code == 404


def test_tool_failure_is_a_result_not_a_protocol_error(server: LiveServer) -> None:
    session = _open(server)
    call = _rpc(
        "tools/call", {"name": "lychee_memory_consolidate", "arguments": {"session_id": "x"}}
    )
    response = _post(server, call, _headers(None, session))
    assert response.status_code == 200
    body = response.json()
    assert "error" not in body and body["id"] == 1
    assert body["result"]["isError"] is True
    assert body["result"]["content"][0]["text"] == "Session 'x' not found"


def test_bad_tokens_get_401_even_when_anonymous_is_allowed(server: LiveServer) -> None:
    token = server.register("wire-user")
    user_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    tokens = TokenService(TEST_JWT_SECRET, expire_hours=1)
    expired = tokens.issue(
        user_id=user_id, username="wire-user", now=datetime.now(UTC) - timedelta(hours=2)
    ).token
    orphan = tokens.issue(user_id=uuid.uuid4().hex, username="ghost").token
    forged = (
        TokenService("another-secret-" + "x" * 40, expire_hours=1)
        .issue(user_id=user_id, username="wire-user")
        .token
    )
    for bad in ("not-a-jwt", expired, orphan, forged):
        response, _ = _initialize(server, bad)
        assert response.status_code == 401, bad
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    basic = _post(
        server,
        _rpc("tools/list", {}),
        {**MCP_HEADERS, "Authorization": "Basic dXNlcjpwYXNz"},
    )
    assert basic.status_code == 401
    assert _initialize(server, token)[0].status_code == 200


def test_require_auth_refuses_anonymous(strict: LiveServer) -> None:
    response, session = _initialize(strict)
    assert response.status_code == 401 and not session
    assert "www-authenticate" in response.headers
    token = strict.register("strict-user")
    session = _open(strict, token)
    assert _list_tools(strict, token, session).status_code == 200
    assert _list_tools(strict, None, session).status_code == 401


@pytest.mark.embedded_only  # sessions exist only in stateful mode (PostgreSQL is stateless)
def test_a_session_belongs_to_its_creator(server: LiveServer) -> None:
    alice, bob = server.register("wire-alice"), server.register("wire-bob")
    session = _open(server, alice)
    assert _list_tools(server, bob, session).status_code == 404
    assert _list_tools(server, None, session).status_code == 404
    assert _list_tools(server, alice, session).status_code == 200
    anonymous = _open(server)
    assert _list_tools(server, alice, anonymous).status_code == 404
    assert _list_tools(server, None, anonymous).status_code == 200
    # Another token of the same user is the same principal.
    login = httpx.post(
        f"{server.base}/auth/login",
        json={"username": "wire-alice", "password": "correct-horse-1"},
        timeout=30,
    )
    assert _list_tools(server, login.json()["token"], session).status_code == 200


def test_host_origin_and_size_checks(server: LiveServer) -> None:
    foreign = _post(server, _rpc("tools/list", {}), _headers(Host="evil.example"))
    assert foreign.status_code == 421
    origin = _post(server, _rpc("tools/list", {}), _headers(Origin="http://evil.example"))
    assert origin.status_code == 403
    allowed, _ = _initialize(server)
    assert allowed.status_code == 200
    huge = {"padding": "x" * (4 * 1024 * 1024 + 10)}
    too_big = httpx.post(
        server.mcp_url,
        content=json.dumps(_rpc("tools/list", huge)),
        headers=_headers(),
        timeout=30,
    )
    assert too_big.status_code == 413


def test_mcp_is_never_a_redirect_and_rest_404s_keep_their_shape(server: LiveServer) -> None:
    response, _ = _initialize(server)
    assert response.status_code == 200 and not response.is_redirect
    missing = httpx.get(f"{server.base}/no-such-route", timeout=30)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong_method = httpx.delete(f"{server.base}/health", timeout=30)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
