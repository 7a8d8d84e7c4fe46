"""Tenants over MCP see only their own memory, and MCP and REST share one store."""

from __future__ import annotations

from typing import Any

import pytest
from mcp_support import LiveServer, mcp_client

FACTS = {
    "alice": "I keep my climbing shoes in the blue locker at the gym.",
    "bob": "I keep my violin strings in the red drawer of the studio.",
    "anonymous": "I keep my bicycle pump in the green shed behind the house.",
}
QUERY = "Where do I keep my things?"


def _texts(payload: dict[str, Any]) -> str:
    return " ".join(
        item["semantic_text"]
        for result in payload["semantic_results"]
        for item in result["provenance"]
    )


def _record_ids(payload: dict[str, Any]) -> set[str]:
    return {
        item["record_id"] for result in payload["semantic_results"] for item in result["provenance"]
    }


async def _remember(live: LiveServer, token: str | None, text: str) -> dict[str, Any]:
    async with mcp_client(live, token) as client:
        turn = {"session_id": "shared-name", "role": "user", "content": text}
        appended = await client.call_tool("lychee_memory_append_turn", turn)
        assert appended.is_error is False
        done = await client.call_tool(
            "lychee_memory_consolidate", {"session_id": "shared-name", "background": False}
        )
        assert done.is_error is False and done.structured_content["status"] == "done"
        found = await client.call_tool("lychee_memory_search", {"query": QUERY, "top_k": 10})
        assert found.is_error is False
        return dict(found.structured_content)


@pytest.mark.anyio
async def test_tenants_see_only_their_own_memory(server: LiveServer) -> None:
    tokens: dict[str, str | None] = {
        "alice": server.register("iso-alice"),
        "bob": server.register("iso-bob"),
        "anonymous": None,
    }
    results = {name: await _remember(server, tokens[name], FACTS[name]) for name in FACTS}
    markers = {"alice": "climbing shoes", "bob": "violin strings", "anonymous": "bicycle pump"}
    for name, payload in results.items():
        seen = _texts(payload)
        assert markers[name] in seen
        for other, marker in markers.items():
            if other != name:
                assert marker not in seen, f"{name} sees {other}'s memory"
        rest = server.rest(
            "POST", "/memory/search", tokens[name], json={"query": QUERY, "top_k": 10}
        )
        assert _record_ids(rest) == _record_ids(payload)
        session = server.rest("GET", "/memory/session/shared-name", tokens[name])
        assert [turn["content"] for turn in session["turns"]] == [FACTS[name]]


@pytest.mark.anyio
async def test_memory_crosses_between_rest_and_mcp(server: LiveServer) -> None:
    token = server.register("crossover", display_name="Kim")
    turn = {"session_id": "rest-side", "role": "user", "content": "My dentist is Dr. Okafor."}
    server.rest("POST", "/memory/append-turn", token, json=turn)
    server.rest(
        "POST", "/memory/consolidate", token, json={"session_id": "rest-side", "background": False}
    )
    async with mcp_client(server, token) as client:
        found = await client.call_tool("lychee_memory_search", {"query": "Who is my dentist?"})
        assert "Okafor" in _texts(dict(found.structured_content))

        written = {"session_id": "mcp-side", "role": "user", "content": "My cat is named Pixel."}
        await client.call_tool("lychee_memory_append_turn", written)
        done = await client.call_tool(
            "lychee_memory_consolidate", {"session_id": "mcp-side", "background": False}
        )
        assert done.structured_content["records_added"] >= 1
    rest = server.rest("POST", "/memory/search", token, json={"query": "What is my cat called?"})
    assert "Pixel" in _texts(rest)
    sessions = {item["session_id"] for item in server.rest("GET", "/sessions", token)["sessions"]}
    assert sessions == {"rest-side", "mcp-side"}
