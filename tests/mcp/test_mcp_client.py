"""The SDK's own client against a live server: handshake, tool listing and every tool."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp_support import LiveServer, mcp_client

from lycheemem import __version__

MEMORY_TOOLS = {
    "lychee_memory_smart_search",
    "lychee_memory_search",
    "lychee_memory_append_turn",
    "lychee_memory_synthesize",
    "lychee_memory_consolidate",
    "lychee_memory_feedback",
}
# Ids, timings and timestamps differ between two tenants given the same input.
VOLATILE = {"job_id", "usage_log_id", "timing_ms", "record_id", "created_at", "updated_at", "ms"}


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    if isinstance(value, float):
        return round(value, 4)  # recency moves between the two searches
    return value


def _structured(result: Any) -> dict[str, Any]:
    assert result.is_error is False, result.content
    assert json.loads(result.content[0].text) == result.structured_content
    return dict(result.structured_content)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_handshake_reports_server_and_instructions(server: LiveServer, mode: str) -> None:
    async with mcp_client(server, mode=mode) as client:
        assert client.server_info is not None
        assert client.server_info.name == "lycheemem"
        assert client.server_info.version == __version__
        assert client.server_capabilities.tools is not None
        instructions = client.instructions or ""
        for name in ("lychee_memory_smart_search", "lychee_memory_append_turn", "consolidate"):
            assert name in instructions
        if mode == "legacy":
            assert client.protocol_version == "2025-11-25"


@pytest.mark.anyio
async def test_tools_list_has_documented_schemas(server: LiveServer) -> None:
    async with mcp_client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == MEMORY_TOOLS | {"lychee_longdoc_ask"}
    for tool in tools.values():
        assert tool.description and tool.output_schema is not None
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"

    smart = tools["lychee_memory_smart_search"].input_schema
    assert smart["required"] == ["query"]
    props = smart["properties"]
    assert {"session_id", "top_k", "include_graph", "include_skills", "synthesize"} <= set(props)
    assert props["mode"]["enum"] == ["raw", "full", "compact"]
    assert props["mode"]["default"] == "compact"
    assert props["top_k"] == {**props["top_k"], "default": 5, "minimum": 1, "maximum": 50}
    assert props["query"]["maxLength"] == 1000
    assert any(alt.get("format") == "date-time" for alt in props["reference_time"]["anyOf"])

    assert tools["lychee_memory_synthesize"].input_schema["required"] == ["user_query"]
    append = tools["lychee_memory_append_turn"].input_schema
    assert append["required"] == ["session_id", "role", "content"]
    assert append["properties"]["role"]["enum"] == ["user", "assistant"]
    assert append["properties"]["token_count"]["default"] == 0
    consolidate = tools["lychee_memory_consolidate"].input_schema
    assert consolidate["required"] == ["session_id"]
    assert consolidate["properties"]["background"]["default"] is True
    assert consolidate["properties"]["force"]["default"] is False
    search = tools["lychee_memory_search"].input_schema
    assert "synthesize" not in search["properties"] and "session_id" in search["properties"]
    assert tools["lychee_memory_feedback"].input_schema["required"] == ["feedback"]
    assert tools["lychee_longdoc_ask"].input_schema["properties"]["method"]["enum"] == [
        "lychee",
        "memagent",
        "rag",
        "full",
    ]
    assert "usage_log_id" in tools["lychee_memory_search"].output_schema["properties"]


@pytest.mark.anyio
async def test_write_and_read_tools_match_rest(server: LiveServer) -> None:
    """Two tenants, same input: one over MCP, one over REST, same answers."""
    # Same display name: extraction writes it into the memory text.
    over_mcp = server.register("mcp-writer", display_name="Sam")
    over_rest = server.register("rest-writer", display_name="Sam")
    turns = [
        {"role": "user", "content": "I always book window seats on long flights to Tokyo."},
        {"role": "assistant", "content": "Noted: window seats for long flights."},
    ]
    async with mcp_client(server, over_mcp) as client:
        appended = []
        for index, turn in enumerate(turns):
            args = {"session_id": "trip", "turn_id": f"t{index}", **turn}
            appended.append(_structured(await client.call_tool("lychee_memory_append_turn", args)))
        duplicate = await client.call_tool(
            "lychee_memory_append_turn", {"session_id": "trip", "turn_id": "t0", **turns[0]}
        )
        consolidated = _structured(
            await client.call_tool(
                "lychee_memory_consolidate", {"session_id": "trip", "background": False}
            )
        )
        query = {"query": "Which seats does the user prefer on flights?", "top_k": 3}
        searched = _structured(await client.call_tool("lychee_memory_search", query))

    rest_appended = [
        server.rest(
            "POST",
            "/memory/append-turn",
            over_rest,
            json={"session_id": "trip", "turn_id": f"t{index}", **turn},
        )
        for index, turn in enumerate(turns)
    ]
    rest_consolidated = server.rest(
        "POST", "/memory/consolidate", over_rest, json={"session_id": "trip", "background": False}
    )
    rest_searched = server.rest("POST", "/memory/search", over_rest, json=query)

    assert appended == rest_appended
    assert _structured(duplicate)["status"] == "duplicate"
    assert consolidated["status"] == "done" and consolidated["records_added"] >= 1
    assert _stable(consolidated) == _stable(rest_consolidated)
    assert searched["usage_log_id"] and searched["total"] >= 1
    assert "window seats" in searched["semantic_results"][0]["constructed_context"]
    assert _stable(searched) == _stable(rest_searched)
    session = server.rest("GET", "/memory/session/trip", over_mcp)
    assert [turn["content"] for turn in session["turns"]] == [t["content"] for t in turns]


@pytest.mark.anyio
async def test_failures_are_error_results_and_the_session_survives(server: LiveServer) -> None:
    async with mcp_client(server, server.register("clumsy")) as client:
        bad = await client.call_tool("lychee_memory_search", {"query": "", "top_k": 99})
        assert bad.is_error is True
        message = bad.content[0].text
        assert message.startswith("Invalid arguments:") and "\n" not in message
        assert "query" in message and "top_k" in message

        trimmed = await client.call_tool(
            "lychee_memory_append_turn", {"session_id": "s", "role": "user", "content": "   "}
        )
        assert trimmed.is_error and "content" in trimmed.content[0].text
        role = await client.call_tool(
            "lychee_memory_append_turn", {"session_id": "s", "role": "tool", "content": "x"}
        )
        assert role.is_error and "role" in role.content[0].text
        bad_session = await client.call_tool(
            "lychee_memory_append_turn", {"session_id": "a/b", "role": "user", "content": "x"}
        )
        assert bad_session.is_error and "session_id" in bad_session.content[0].text
        big = await client.call_tool(
            "lychee_memory_append_turn",
            {"session_id": "s", "role": "user", "content": "x", "metadata": {"k": "v" * 20_000}},
        )
        assert big.is_error and "metadata" in big.content[0].text

        missing = await client.call_tool("lychee_memory_consolidate", {"session_id": "nope"})
        assert missing.is_error and missing.content[0].text == "Session 'nope' not found"
        unknown = await client.call_tool("lychee_memory_teleport", {})
        assert unknown.is_error and "lychee_memory_teleport" in unknown.content[0].text
        no_doc = await client.call_tool(
            "lychee_longdoc_ask", {"doc_id": "missing", "question": "What happened?"}
        )
        assert no_doc.is_error and "missing" in no_doc.content[0].text

        # Unknown arguments are ignored; the session still works after every failure.
        ok = await client.call_tool(
            "lychee_memory_append_turn",
            {"session_id": "s", "role": "user", "content": "fine", "colour": "blue"},
        )
        assert _structured(ok)["turn_count"] == 1
    assert server.rest("GET", "/sessions", server.register("bystander"))["total"] == 0


async def _seed(client: Any, server: LiveServer, token: str, turns: list[str]) -> None:
    for index, content in enumerate(turns):
        args = {"session_id": "prefs", "role": "user", "content": content, "turn_id": str(index)}
        _structured(await client.call_tool("lychee_memory_append_turn", args))
    server.rest(
        "POST", "/memory/consolidate", token, json={"session_id": "prefs", "background": False}
    )


@pytest.mark.anyio
async def test_smart_search_synthesize_and_feedback_match_rest(server: LiveServer) -> None:
    over_mcp = server.register("smart-mcp", display_name="Lee")
    over_rest = server.register("smart-rest", display_name="Lee")
    turns = [
        "I drink my coffee black, never with sugar.",
        "My favourite editor for Python work is Neovim.",
    ]
    for index, content in enumerate(turns):
        body = {"session_id": "prefs", "role": "user", "content": content, "turn_id": str(index)}
        server.rest("POST", "/memory/append-turn", over_rest, json=body)
    server.rest(
        "POST", "/memory/consolidate", over_rest, json={"session_id": "prefs", "background": False}
    )
    query = {"query": "How does the user take coffee?", "session_id": "prefs"}

    async with mcp_client(server, over_mcp) as client:
        await _seed(client, server, over_mcp, turns)
        compact = _structured(await client.call_tool("lychee_memory_smart_search", query))
        full = _structured(
            await client.call_tool("lychee_memory_smart_search", {**query, "mode": "full"})
        )
        raw = _structured(
            await client.call_tool("lychee_memory_smart_search", {**query, "mode": "raw"})
        )
        searched = _structured(await client.call_tool("lychee_memory_search", query))
        fragments = {
            "user_query": query["query"],
            "semantic_results": searched["semantic_results"],
            "skill_results": searched["skill_results"],
        }
        synthesized = _structured(await client.call_tool("lychee_memory_synthesize", fragments))
        rated = _structured(
            await client.call_tool(
                "lychee_memory_feedback",
                {"usage_log_id": searched["usage_log_id"], "feedback": "positive"},
            )
        )
        by_session = _structured(
            await client.call_tool(
                "lychee_memory_feedback", {"session_id": "prefs", "feedback": "negative"}
            )
        )
        unknown_log = await client.call_tool(
            "lychee_memory_feedback", {"usage_log_id": "nope", "feedback": "positive"}
        )
        bad_feedback = await client.call_tool(
            "lychee_memory_feedback", {"session_id": "prefs", "feedback": "great"}
        )
        no_query = await client.call_tool("lychee_memory_synthesize", {"semantic_results": []})

    assert compact["mode"] == "compact" and compact["synthesized"] is True
    assert "black" in compact["background_context"]
    assert compact["semantic_results"] == [] and "retrieval_plan" not in compact
    assert _stable(compact) == _stable(
        server.rest("POST", "/memory/smart-search", over_rest, json=query)
    )
    assert full["semantic_results"] and "retrieval_plan" in full
    assert raw["synthesized"] is False and raw["background_context"] == ""
    assert synthesized == server.rest("POST", "/memory/synthesize", over_rest, json=fragments)
    assert synthesized["kept_count"] >= 1 and "black" in synthesized["background_context"]

    assert rated["status"] == "recorded" and rated["usage_log_id"] == searched["usage_log_id"]
    assert rated["outcome"] == "success" and rated["updated_ids"]
    assert by_session["outcome"] == "fail" and by_session["usage_log_id"]
    assert unknown_log.is_error and "not found" in unknown_log.content[0].text
    assert bad_feedback.is_error and "feedback" in bad_feedback.content[0].text
    assert no_query.is_error and "user_query" in no_query.content[0].text
