"""Stage 5: store the answer, finish the usage log and queue the background consolidator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lycheemem.chat.state import PipelineState
from lycheemem.domain.usage import usage_collector

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext

__all__ = ["finalize"]


async def finalize(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Append the assistant turn, write the response excerpt, enqueue consolidation
    (debounced; the job absorbs later turns) and total the turn's LLM tokens."""
    ctx = runtime.context
    memory = ctx.memory
    user_id, session_id = state["user_id"], state["session_id"]
    text = state.get("final_response", "")
    turn = memory.build_turn(
        user_id=user_id, session_id=session_id, role="assistant", content=text or " "
    )
    outcome = await memory.sessions.append_turn(turn, now=memory.clock.now_iso())
    log_id = state.get("usage_log_id")
    if log_id:
        await ctx.feedback.finalize_log(user_id=user_id, log_id=log_id, response=text)
    job_id = None
    trace: dict[str, Any] = {"status": "disabled", "job_id": None}
    if ctx.settings.auto_consolidate:
        job = await memory.consolidation.enqueue(
            user_id=user_id,
            session_id=session_id,
            retrieved_context=state.get("novelty_retrieved_context", ""),
            auto=True,
        )
        job_id = job.job_id if job is not None else None
        trace = {"status": "queued", "job_id": job_id}
    collector = usage_collector.get()
    return {
        "assistant_turn_index": outcome.turn_index,
        "consolidation_job_id": job_id,
        "consolidator_trace": trace,
        "turn_input_tokens": collector.input_tokens if collector else 0,
        "turn_output_tokens": collector.output_tokens if collector else 0,
    }
