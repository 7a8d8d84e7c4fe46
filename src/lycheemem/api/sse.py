"""Server-sent events framing for ``POST /chat`` (API.md §4).

Each event is one ``data: <json>\\n\\n`` frame without an ``event:`` name;
while the server waits it sends ``: keep-alive`` comment lines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

from lycheemem.chat.runner import KEEPALIVE
from lycheemem.metrics import Metrics

__all__ = [
    "KEEPALIVE_FRAME",
    "SSE_HEADERS",
    "SSE_OPENAPI",
    "EventStreamResponse",
    "sse_frame",
    "sse_response",
    "sse_stream",
]

KEEPALIVE_FRAME = b": keep-alive\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# How OpenAPI documents a stream of these frames (the 200 of ``POST /chat``).
SSE_OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-sent events: one `data: <json>` frame per event (`step`, `token`, "
            "`answer`, then `done` or `error` last) and `: keep-alive` comments while waiting."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class EventStreamResponse(StreamingResponse):
    """A streaming ``text/event-stream`` response (so OpenAPI names the media type)."""

    media_type = "text/event-stream"


def sse_frame(event: dict[str, Any]) -> bytes:
    """One ``data:`` frame; the JSON is on one line (newlines inside strings are escaped)."""
    return b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"


async def sse_stream(
    events: AsyncIterator[dict[str, Any]], metrics: Metrics | None = None
) -> AsyncIterator[bytes]:
    """Frame ``events``; counts the stream in ``lycheemem_sse_streams_active`` while open."""
    if metrics is not None:
        metrics.sse_streams.inc()
    try:
        async for event in events:
            yield KEEPALIVE_FRAME if event is KEEPALIVE else sse_frame(event)
    finally:
        if metrics is not None:
            metrics.sse_streams.dec()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def sse_response(
    events: AsyncIterator[dict[str, Any]], metrics: Metrics | None = None
) -> EventStreamResponse:
    """A ``text/event-stream`` response over ``events``."""
    return EventStreamResponse(sse_stream(events, metrics), headers=SSE_HEADERS)
