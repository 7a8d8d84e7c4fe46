"""Stage 5: store the answer, finish the usage log and queue the background consolidator."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lycheemem.chat.state import TRACE_KEYS, PipelineState
from lycheemem.domain.prompts import MEMORY_ONLY_HEADER
from lycheemem.domain.turns import MAX_METADATA_BYTES
from lycheemem.domain.usage import usage_collector

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext

__all__ = ["ANSWER_METADATA_KEY", "answer_metadata", "finalize", "stored_answer"]

ANSWER_METADATA_KEY = "answer"
"""Key of the assistant turn's metadata that keeps what the chat showed with the answer."""
_STATE_TRACES = {
    "wm_manager": "wm_trace",
    "search": "search_trace",
    "synthesize": "synth_trace",
    "reason": "reason_trace",
}
# Room left for the rest of the turn's metadata under the 16 KiB limit.
_METADATA_BUDGET = MAX_METADATA_BYTES - 1024


def stored_answer(text: str) -> str:
    """The answer as stored in the session: without the memory-only label line.

    Why: the label is for the reader of the live reply; stored in the turn it would be
    repeated in working memory, history and summaries. ``answer.mode`` in the turn's
    metadata keeps the fact that it was a memory-only answer.
    """
    if text.startswith(MEMORY_ONLY_HEADER):
        return text[len(MEMORY_ONLY_HEADER) :].removeprefix("\n")
    return text


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def answer_metadata(state: PipelineState, mode: str) -> dict[str, Any]:
    """What a client needs to show the answer again later: mode, usage log and the trace.

    The trace is the one the ``done`` event carried (without consolidation, which a client
    asks for separately). A long synthesized context is cut so the whole stays within the
    turn metadata limit; provenance (the citations) is kept.
    """
    trace: dict[str, Any] = {
        TRACE_KEYS[node]: state.get(field)
        for node, field in _STATE_TRACES.items()
        if state.get(field) is not None
    }
    meta: dict[str, Any] = {
        "mode": mode,
        "usage_log_id": state.get("usage_log_id"),
        "trace": trace,
    }
    synth = trace.get("synthesizer")
    if _size(meta) > _METADATA_BUDGET and isinstance(synth, dict):
        trace["synthesizer"] = {**synth, "background_context": "", "context_cut": True}
    if _size(meta) > _METADATA_BUDGET:
        meta["trace"] = {"synthesizer": {"provenance": (synth or {}).get("provenance", [])[:20]}}
    if _size(meta) > _METADATA_BUDGET:
        meta["trace"] = {}
    return meta


async def finalize(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Append the assistant turn, write the response excerpt, enqueue consolidation
    (debounced; the job absorbs later turns) and total the turn's LLM tokens."""
    ctx = runtime.context
    memory = ctx.memory
    user_id, session_id = state["user_id"], state["session_id"]
    text = state.get("final_response", "")
    turn = memory.build_turn(
        user_id=user_id,
        session_id=session_id,
        role="assistant",
        content=stored_answer(text) or " ",
        metadata={ANSWER_METADATA_KEY: answer_metadata(state, ctx.reasoner.mode)},
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
