"""Pure-ASGI middleware: trace ids, body-size limits, and request metrics.

Written as raw ASGI (not ``BaseHTTPMiddleware``) so streaming responses and
the mounted MCP app pass through untouched.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "TraceIdMiddleware", "new_trace_id"]

_TRACE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_trace_id() -> str:
    """A fresh 16-hex-character trace id."""
    return secrets.token_hex(8)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class TraceIdMiddleware:
    """Sets ``request.state.trace_id`` and echoes it in ``X-Trace-ID``; records metrics."""

    def __init__(self, app: ASGIApp, on_request: Callable[[Scope, int, float], None] | None = None):
        self.app = app
        self._on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = _header(scope, b"x-trace-id")
        trace_id = supplied if supplied and _TRACE_ID.match(supplied) else new_trace_id()
        scope.setdefault("state", {})["trace_id"] = trace_id
        started = time.perf_counter()
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-trace-id", trace_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            if self._on_request is not None:
                self._on_request(scope, status, time.perf_counter() - started)


class BodyLimitMiddleware:
    """Rejects request bodies over a per-path limit with 413 before the route reads them."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self._limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reject(scope, send, limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _reject(scope, send, limit)


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive`` so FastAPI's body parser re-raises it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the limit of {limit} bytes")


async def _reject(scope: Scope, send: Send, limit: int) -> None:
    trace_id = scope.get("state", {}).get("trace_id", "")
    body: dict[str, Any] = {
        "detail": f"Request body is larger than the limit of {limit} bytes",
        "code": "payload_too_large",
        "trace_id": trace_id,
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
