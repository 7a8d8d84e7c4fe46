"""Stage 4: generate the reply (streamed token by token through the custom stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lycheemem.chat.nodes._common import calls_mark, calls_since
from lycheemem.chat.state import PipelineState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext

__all__ = ["reason"]


async def reason(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Stream the answer; each piece goes out as a ``token`` event as it arrives."""
    ctx = runtime.context
    mark = calls_mark()
    pieces: list[str] = []
    async for piece in ctx.reasoner.stream(
        query=state["user_query"],
        history=state.get("compressed_history", []),
        background=state.get("background_context", ""),
        skill_plan=state.get("skill_reuse_plan", []),
        now=ctx.memory.clock.now(),
    ):
        pieces.append(piece)
        runtime.stream_writer({"type": "token", "content": piece})
    text = "".join(pieces)
    mode = ctx.reasoner.mode
    return {
        "final_response": text,
        "reasoner_mode": mode,
        "reason_trace": {"response_length": len(text), "mode": mode},
        "llm_calls": calls_since(mark),
    }
