"""Stage 1: store the user turn, apply implicit feedback, keep working memory in budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lycheemem.chat.nodes._common import calls_mark, calls_since
from lycheemem.chat.state import PipelineState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext

__all__ = ["wm_manager"]


async def wm_manager(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Append the user turn (redacted), label the last action retrieval from it, then
    compress if needed and render the history (MEMORY.md §5, §13)."""
    ctx = runtime.context
    memory = ctx.memory
    mark = calls_mark()
    user_id, session_id = state["user_id"], state["session_id"]
    turn = memory.build_turn(
        user_id=user_id, session_id=session_id, role="user", content=state["user_query"]
    )
    outcome = await memory.sessions.append_turn(turn, now=memory.clock.now_iso())
    update = await ctx.feedback.on_user_turn(
        user_id=user_id, session_id=session_id, text=turn.content
    )
    wm = await memory.working_memory.on_user_turn(user_id, session_id)
    return {
        "compressed_history": wm.compressed_history,
        "raw_recent_turns": list(wm.raw_recent_turns),
        "wm_token_usage": wm.wm_token_usage,
        "user_turn_index": outcome.turn_index,
        "wm_trace": wm.trace(),
        "feedback_update": update.trace() if update else None,
        "llm_calls": calls_since(mark),
    }
