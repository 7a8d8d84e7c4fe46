"""Per-caller cap on open MCP sessions, so one caller cannot exhaust the session table.

``SessionQuota`` wraps the SDK's streamable-HTTP app. It learns each session's owner
from the response that opens it (the ``Mcp-Session-Id`` header) and counts a caller's
open sessions: a registered user by token subject, an anonymous caller by client
address. A caller at the cap who opens another session loses its least recently used
session if that one has been idle for ``evict_idle_s`` (ended with an ordinary MCP
``DELETE``); otherwise that caller alone gets 429 after ``refusal_delay_s``, which costs
the server next to nothing during a flood. Other callers are never affected.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SessionQuota"]

_SESSION_HEADER = b"mcp-session-id"


@dataclass(slots=True)
class _Open:
    """One open session of a caller."""

    last_used: float
    in_flight: int = 0


@dataclass(slots=True)
class _Caller:
    sessions: dict[str, _Open] = field(default_factory=dict)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class SessionQuota:
    """ASGI wrapper enforcing ``per_caller`` open MCP sessions per caller.

    ``identify(scope)`` names the caller of a request (``None`` = let the SDK decide,
    e.g. an invalid token that it will answer with 401). Sessions unused for longer
    than ``idle_s`` are forgotten, as the SDK closes them by then.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_caller: int,
        idle_s: float,
        evict_idle_s: float,
        refusal_delay_s: float = 1.0,
        identify: Callable[[Scope], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self._per_caller = per_caller
        self._idle_s = idle_s
        self._evict_idle_s = evict_idle_s
        self._refusal_delay_s = refusal_delay_s
        self._identify = identify
        self._clock = clock
        self._callers: dict[str, _Caller] = {}

    def open_sessions(self, caller: str) -> int:
        """How many sessions ``caller`` holds now (after forgetting expired ones)."""
        return len(self._live(caller).sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = self._identify(scope)
        if caller is None:
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, _SESSION_HEADER)
        if session_id is None:
            await self._open(caller, scope, receive, send)
        else:
            await self._use(caller, session_id, scope, receive, send)

    def _live(self, caller: str) -> _Caller:
        entry = self._callers.setdefault(caller, _Caller())
        cutoff = self._clock() - self._idle_s
        for session_id, held in list(entry.sessions.items()):
            if held.in_flight == 0 and held.last_used < cutoff:
                del entry.sessions[session_id]
        return entry

    async def _open(self, caller: str, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._live(caller)
        if scope["method"] == "POST" and len(entry.sessions) >= self._per_caller:
            cutoff = self._clock() - self._evict_idle_s
            idle = [
                (held.last_used, sid)
                for sid, held in entry.sessions.items()
                if not held.in_flight and held.last_used <= cutoff
            ]
            if not idle:
                # A refused caller waits for its 429: a flood that awaits its answers slows
                # itself to a trickle instead of keeping the server busy with refusals.
                await asyncio.sleep(self._refusal_delay_s)
                await _too_many(send, self._per_caller)
                return
            victim = min(idle)[1]
            entry.sessions.pop(victim, None)
            await self._end(scope, victim)
        opened: list[str] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                for key, value in message.get("headers", []):
                    if key.lower() == _SESSION_HEADER:
                        opened.append(value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, capture)
        for session_id in opened:
            entry.sessions[session_id] = _Open(last_used=self._clock())

    async def _use(
        self, caller: str, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        held = self._live(caller).sessions.get(session_id)
        if held is None:
            await self.app(scope, receive, send)
            return
        held.in_flight += 1
        held.last_used = self._clock()
        try:
            await self.app(scope, receive, send)
        finally:
            held.in_flight -= 1
            held.last_used = self._clock()
            if scope["method"] == "DELETE":
                self._callers[caller].sessions.pop(session_id, None)

    async def _end(self, scope: Scope, session_id: str) -> None:
        """End ``session_id`` with an MCP DELETE carrying the caller's own credentials."""
        headers = [
            (key, value)
            for key, value in scope.get("headers", [])
            if key.lower() not in (b"content-length", b"content-type", _SESSION_HEADER)
        ]
        headers.append((_SESSION_HEADER, session_id.encode("latin-1")))
        delete_scope = {**scope, "method": "DELETE", "headers": headers}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        await self.app(delete_scope, receive, discard)


async def _too_many(send: Send, cap: int) -> None:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32000, "message": f"Too many open MCP sessions (at most {cap})"},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
