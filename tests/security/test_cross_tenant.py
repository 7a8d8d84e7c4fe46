"""The cross-tenant probe: every REST operation (from the OpenAPI schema) and every MCP tool
(from ``tools/list``), called by another user and by the anonymous caller with the first
user's ids, reveals none of that user's data and changes none of it. A control shows the
owner does see that data through the same operations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from security_support import Live, live_server

SECRET = f"ALICE-SECRET-{uuid.uuid4().hex[:12]}"
SESSION = "alice-private-session"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
ALICE_TURNS = [
    f"My locker code is {SECRET} and I prefer window seats on flights.",
    "How to release:\n1. Run the tests with pytest\n2. Build the wheel with uv build\n"
    "3. Upload with twine upload",
    f"Remember that {SECRET} is also my badge number.",
]


@dataclass
class Owner:
    """Alice: her token and every id her data has."""

    token: str
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """Her auth headers."""
        return {"Authorization": f"Bearer {self.token}"}

    def private_values(self) -> set[str]:
        """Strings that only her data contains."""
        return {SECRET, *(value for key, value in self.ids.items() if key != "session_id")}


def _register(live: Live, username: str) -> str:
    body = {"username": username, "password": "pw-123456"}
    response = httpx.post(live.url("/auth/register"), json=body, timeout=60)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _seed(live: Live, owner: Owner) -> None:
    http = httpx.Client(base_url=live.base, headers=owner.headers, timeout=120)
    for text in ALICE_TURNS:
        turn = {"session_id": SESSION, "role": "user", "content": text}
        assert http.post("/memory/append-turn", json=turn).status_code == 200
    done = http.post("/memory/consolidate", json={"session_id": SESSION, "background": False})
    assert done.json()["status"] == "done", done.text
    owner.ids["session_id"] = SESSION
    owner.ids["job_id"] = done.json()["job_id"]
    records = http.get("/memory/records", params={"kind": "record"}).json()["items"]
    owner.ids["item_id"] = records[0]["record_id"]
    composites = http.get("/memory/records", params={"kind": "composite"}).json()["items"]
    if composites:
        owner.ids["composite_id"] = composites[0]["composite_id"]
    skills = http.get("/memory/skills").json()["skills"]
    assert skills, "the release procedure should have become a skill"
    owner.ids["skill_id"] = skills[0]["skill_id"]
    search = http.post("/memory/search", json={"query": f"locker code {SECRET}"}).json()
    owner.ids["usage_log_id"] = search["usage_log_id"]
    document = {"title": "Alice notes", "text": f"{SECRET} appears in this document. " * 40}
    created = http.post("/longdoc/documents", json=document)
    assert created.status_code < 300, created.text
    owner.ids["doc_id"] = created.json()["doc_id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, Owner, str]]:
    """A live server with Alice's data and Bob's token."""
    with live_server(tmp_path_factory.mktemp("probe")) as live:
        owner = Owner(_register(live, "alice"))
        _seed(live, owner)
        yield live, owner, _register(live, "bob")


# -- values for generated requests --------------------------------------------------------

_ID_ALIASES = {"record_id": "item_id", "record_ids": "item_id", "skill_ids": "skill_id"}


def _id_for(name: str, owner: Owner) -> str | None:
    key = _ID_ALIASES.get(name, name)
    return owner.ids.get(key)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return _resolve(options[0], spec) if options else {"type": "null"}
    return schema


def _value(name: str, schema: dict[str, Any], spec: dict[str, Any], owner: Owner) -> Any:
    schema = _resolve(schema, spec)
    known = _id_for(name, owner)
    kind = schema.get("type")
    if known is not None:
        return [known] if kind == "array" else known
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if kind == "string":
        return f"probe {SECRET[:6]} locker code" if name in ("query", "q", "user_query") else "x"
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0.5))
    if kind == "boolean":
        return name in ("confirm", "include_sessions", "include_usage_logs", "include_expired")
    if kind == "array":
        return []
    if kind == "object":
        return _object(schema, spec, owner)
    return None


def _object(schema: dict[str, Any], spec: dict[str, Any], owner: Owner) -> dict[str, Any]:
    schema = _resolve(schema, spec)
    body: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if name in required or _id_for(name, owner) is not None:
            body[name] = _value(name, prop, spec, owner)
    return body


def _request(method: str, path: str, op: dict[str, Any], spec: dict[str, Any], owner: Owner):
    params: dict[str, Any] = {}
    for param in op.get("parameters", []):
        value = _value(param["name"], param.get("schema", {}), spec, owner)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(value))
        elif value is not None:
            params[param["name"]] = value
    content = op.get("requestBody", {}).get("content", {})
    body = None
    if "application/json" in content:
        body = _object(content["application/json"]["schema"], spec, owner)
    return method.upper(), path, params, body


def _leaks(text: str, sent: str, owner: Owner) -> list[str]:
    """Private values of the owner in ``text`` that the request did not itself carry."""
    return [value for value in owner.private_values() if value in text and value not in sent]


def _snapshot(live: Live, owner: Owner) -> dict[str, Any]:
    http = httpx.Client(base_url=live.base, headers=owner.headers, timeout=120)
    status = http.get("/pipeline/status").json()
    export = http.get("/memory/export", params={"include_sessions": True}).text
    keep = ("session_count", "record_count", "composite_count", "skill_count")
    return {"counts": {k: status[k] for k in keep}, "lines": sorted(export.splitlines()[1:])}


def test_rest_probe_reveals_and_changes_nothing(world) -> None:
    live, owner, bob = world
    spec = httpx.get(live.url("/openapi.json"), timeout=60).json()
    before = _snapshot(live, owner)
    leaks: list[str] = []
    probed = 0
    for headers in ({"Authorization": f"Bearer {bob}"}, {}):
        http = httpx.Client(base_url=live.base, headers=headers, timeout=120)
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                if path == "/memory/import":
                    body = b'{"type": "header", "format": "lycheemem.export", "version": 1}'
                    response = http.post(path, content=body)
                    sent = ""
                else:
                    verb, url, params, body = _request(method, path, op, spec, owner)
                    response = http.request(verb, url, params=params, json=body)
                    sent = f"{url} {params} {body}"
                probed += 1
                assert response.status_code < 500, (method, path, response.text[:300])
                found = _leaks(response.text, sent, owner)
                if found:
                    leaks.append(f"{method.upper()} {path} as {headers or 'anonymous'}: {found}")
    assert probed >= 80
    assert leaks == []
    assert _snapshot(live, owner) == before


def test_control_the_owner_sees_her_data(world) -> None:
    live, owner, _ = world
    http = httpx.Client(base_url=live.base, headers=owner.headers, timeout=120)
    ids = owner.ids
    reads = [
        ("GET", f"/memory/session/{SESSION}", None),
        ("GET", "/memory/records", None),
        ("GET", f"/memory/records/{ids['item_id']}", None),
        ("GET", "/memory/export", None),
        ("POST", "/memory/search", {"query": f"locker code {SECRET}"}),
        ("GET", f"/longdoc/documents/{ids['doc_id']}", None),
    ]
    for method, path, body in reads:
        response = http.request(method, path, json=body)
        assert response.status_code == 200, (path, response.text[:300])
        expected = {
            f"/longdoc/documents/{ids['doc_id']}": ids["doc_id"],
            f"/memory/records/{ids['item_id']}": ids["item_id"],
        }.get(path, SECRET)
        assert expected in response.text, path
    assert ids["skill_id"] in http.get("/memory/skills").text


# -- MCP -------------------------------------------------------------------------------


def _mcp(live: Live, token: str | None) -> tuple[httpx.Client, dict[str, str]]:
    headers = dict(MCP_HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = httpx.Client(timeout=120)
    params = {"protocolVersion": "2025-03-26", "capabilities": {},
              "clientInfo": {"name": "probe", "version": "0"}}  # fmt: skip
    opened = http.post(
        live.url("/mcp"),
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        headers=headers,
    )
    assert opened.status_code == 200, opened.text
    headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
    headers["MCP-Protocol-Version"] = "2025-03-26"
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert http.post(live.url("/mcp"), json=note, headers=headers).status_code == 202
    return http, headers


def _tool_calls(live: Live, token: str | None) -> tuple[httpx.Client, dict[str, str], list]:
    http, headers = _mcp(live, token)
    listed = http.post(
        live.url("/mcp"),
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
        headers=headers,
    )
    return http, headers, listed.json()["result"]["tools"]


def _call(live: Live, http: httpx.Client, headers: dict[str, str], name: str, args: dict) -> str:
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": name, "arguments": args}}  # fmt: skip
    response = http.post(live.url("/mcp"), json=message, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_mcp_probe_reveals_nothing(world) -> None:
    live, owner, bob = world
    leaks: list[str] = []
    for token in (bob, None):
        http, headers, tools = _tool_calls(live, token)
        assert len(tools) >= 7
        for tool in tools:
            args = _object(tool["inputSchema"], {"components": {"schemas": {}}}, owner)
            text = _call(live, http, headers, tool["name"], args)
            found = _leaks(text, str(args), owner)
            if found:
                leaks.append(f"{tool['name']} as {'bob' if token else 'anonymous'}: {found}")
    assert leaks == []


def test_mcp_control_the_owner_finds_her_data(world) -> None:
    live, owner, _ = world
    http, headers, _ = _tool_calls(live, owner.token)
    args = {"query": f"locker code {SECRET}"}
    assert SECRET in _call(live, http, headers, "lychee_memory_search", args)
