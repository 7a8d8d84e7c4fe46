"""The MCP endpoint at ``/mcp``: official SDK server, JWT verifier and memory tools."""

from __future__ import annotations

__all__: list[str] = []
