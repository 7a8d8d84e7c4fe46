"""Stage 3: judge the retrieved fragments and fuse the kept ones into background context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lycheemem.chat.nodes._common import calls_mark, calls_since
from lycheemem.chat.state import PipelineState

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext

__all__ = ["synthesize"]


async def synthesize(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Threshold selection (no LLM) or the LLM judge, then the skill reuse plan."""
    mark = calls_mark()
    result = await runtime.context.synthesizer.from_search(
        state["user_query"], state.get("provenance_raw", []), state.get("retrieved_skills", [])
    )
    return {
        "background_context": result.background_context,
        "skill_reuse_plan": result.skill_reuse_plan,
        "provenance": result.provenance,
        "kept_count": result.kept_count,
        "dropped_count": result.dropped_count,
        "synth_trace": result.trace(),
        "llm_calls": calls_since(mark),
    }
