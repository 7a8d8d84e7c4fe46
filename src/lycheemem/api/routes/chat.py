"""``/chat`` (SSE) and ``/chat/complete``: one turn through the LangGraph pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import ChatCompletePublic
from lycheemem.api.schemas import ChatRequest
from lycheemem.api.sse import SSE_OPENAPI, EventStreamResponse, sse_response

router = APIRouter(prefix="/chat", tags=["chat"])


def _trace_id(request: Request) -> str:
    return str(getattr(request.state, "trace_id", "") or "")


@router.post("/complete", response_model=ChatCompletePublic, response_model_exclude_unset=True)
async def chat_complete(
    body: ChatRequest, request: Request, caller: CallerDep, ctx: ContextDep
) -> dict[str, Any]:
    """Run one chat turn and return the whole answer with its trace."""
    return await ctx.service.chat(
        user_id=caller.user_id,
        session_id=body.session_id,
        message=body.message,
        trace_id=_trace_id(request),
    )


@router.post("", response_class=EventStreamResponse, responses=SSE_OPENAPI)
async def chat_stream(
    body: ChatRequest, request: Request, caller: CallerDep, ctx: ContextDep
) -> EventStreamResponse:
    """Run one chat turn and stream its events as SSE ``data:`` frames.

    The turn runs server-side: a client disconnect still stores the answer and
    queues consolidation.
    """
    events = ctx.service.chat_stream(
        user_id=caller.user_id,
        session_id=body.session_id,
        message=body.message,
        trace_id=_trace_id(request),
    )
    return sse_response(events, ctx.metrics)
