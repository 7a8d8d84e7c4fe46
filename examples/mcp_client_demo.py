#!/usr/bin/env python3
"""Use LycheeMem as an MCP server from Python with the official SDK (``mcp`` 2.x).

Lists the tools, mirrors two turns, consolidates synchronously, then asks smart-search. Start a
server first (`make serve`), then:

    python examples/mcp_client_demo.py                      # registers (or logs in) demo_user
    python examples/mcp_client_demo.py --token "$TOKEN"      # an existing bearer token

``mcp`` and ``httpx2`` are installed with LycheeMem itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from typing import Any

import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

TURNS = (
    ("user", "Our staging database is PostgreSQL 16 and we back it up nightly with pg_dump."),
    ("assistant", "Noted: PostgreSQL 16 on staging, nightly pg_dump backups."),
)


async def get_token(base_url: str, username: str, password: str) -> str:
    """Register on first use, else log in; return the bearer token."""
    body = {"username": username, "password": password}
    async with httpx2.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/auth/register", json=body)
        if response.status_code == 409:
            response = await http.post("/auth/login", json=body)
        response.raise_for_status()
        return str(response.json()["token"])


def structured(result: Any) -> dict[str, Any]:
    """The REST-shaped object of a tool result; exits with the tool's message on an error."""
    if result.is_error:
        sys.exit(f"tool error: {result.content[0].text}")
    return dict(result.structured_content)


async def run(base_url: str, token: str, session_id: str) -> None:
    """The demo itself: one MCP session over streamable HTTP with the token as a header."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
        async with Client(transport) as mcp:
            tools = (await mcp.list_tools()).tools
            print("tools:", ", ".join(tool.name for tool in tools))
            for role, content in TURNS:
                arguments = {"session_id": session_id, "role": role, "content": content}
                appended = structured(await mcp.call_tool("lychee_memory_append_turn", arguments))
                print(f"appended {role} turn -> {appended['turn_count']} turns in {session_id}")
            arguments = {"session_id": session_id, "background": False}
            job = structured(await mcp.call_tool("lychee_memory_consolidate", arguments))
            print(f"consolidated: {job['status']}, {job['records_added']} records added")
            query = {"query": "How is the staging database backed up?"}
            found = structured(await mcp.call_tool("lychee_memory_smart_search", query))
            print("smart search background_context:")
            print(found["background_context"])
            print(json.dumps({"kept": found["kept_count"], "total": found["total"]}))


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, get a token unless one was given, run the demo."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="bearer token (default: register/login demo_user)")
    parser.add_argument("--username", default="demo_user")
    parser.add_argument("--password", default="demo_password_123")
    parser.add_argument("--session-id", default=f"mcp-demo-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args(argv)
    base_url = args.base_url.rstrip("/")
    token = args.token or asyncio.run(get_token(base_url, args.username, args.password))
    asyncio.run(run(base_url, token, args.session_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
