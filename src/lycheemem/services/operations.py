"""Stage-level operations outside a chat turn: smart-search, synthesize, reason, feedback.

``MemoryService`` delegates here; REST and MCP get the same response dicts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from lycheemem.chat.nodes.search import plan_refiner
from lycheemem.chat.runner import ChatRunner, usage_scope
from lycheemem.chat.synthesizer import SynthesisResult
from lycheemem.errors import ValidationFailed
from lycheemem.retrieval.search import PlanRefiner, Reflector, SearchOutcome

__all__ = ["PipelineOperations", "SMART_SEARCH_MODES"]

SMART_SEARCH_MODES = ("raw", "full", "compact")
MAX_REASON_SKILLS = 10


def _plan_item(skill: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "skill_id": skill.get("skill_id") or skill.get("id"),
        "intent": skill.get("intent", ""),
        "doc_markdown": skill.get("doc_markdown", ""),
        "score": float(skill.get("score") or 0.0),
        "conditions": skill.get("conditions", "") or "",
    }


class PipelineOperations:
    """The non-chat stage operations, sharing the chat pipeline's stages."""

    def __init__(self, *, runner: ChatRunner) -> None:
        self._runner = runner
        self._ctx = runner.context
        self._memory = runner.context.memory

    @property
    def planner(self) -> PlanRefiner | None:
        """The search hook of the LLM planner (None in memory-only mode)."""
        return plan_refiner(self._ctx.planner)

    @property
    def reflector(self) -> Reflector | None:
        """The reflection hook (None unless LLM mode with ``LYCHEEMEM_REFLECTION_ROUNDS`` > 0)."""
        return self._ctx.reflector

    async def search(
        self,
        *,
        user_id: str,
        query: str,
        top_k: int,
        session_id: str | None,
        include_graph: bool,
        include_skills: bool,
        reference_time: datetime | None,
    ) -> SearchOutcome:
        """``POST /memory/search``: the chat graph's search stage, LLM hooks included."""
        return await self._memory.searcher.search(
            user_id=user_id,
            query=query,
            top_k=top_k,
            session_id=session_id,
            include_graph=include_graph,
            include_skills=include_skills,
            reference_time=reference_time,
            planner=self.planner,
            reflector=self.reflector,
        )

    # -- smart search --------------------------------------------------------------
    async def smart_search(
        self,
        *,
        user_id: str,
        query: str,
        top_k: int,
        session_id: str | None,
        include_graph: bool,
        include_skills: bool,
        synthesize: bool,
        mode: str,
        reference_time: datetime | None,
    ) -> dict[str, Any]:
        """``POST /memory/smart-search``: search, then synthesis unless ``raw``."""
        if mode not in SMART_SEARCH_MODES:
            raise ValidationFailed(f"mode must be one of {', '.join(SMART_SEARCH_MODES)}")
        outcome = await self.search(
            user_id=user_id,
            query=query,
            top_k=top_k,
            session_id=session_id,
            include_graph=include_graph,
            include_skills=include_skills,
            reference_time=reference_time,
        )
        started = time.perf_counter()
        synthesized = synthesize and mode != "raw"
        # synthesize=false is a plain search whatever the mode: hiding its results would
        # leave the caller with nothing.
        compact = mode == "compact" and synthesized
        result = (
            await self._ctx.synthesizer.from_search(query, outcome.provenance, outcome.skills)
            if synthesized
            else SynthesisResult()
        )
        timing = {
            **outcome.timing_ms,
            "synthesize": round((time.perf_counter() - started) * 1e3, 3),
        }
        body: dict[str, Any] = {
            "query": query,
            "mode": mode,
            "synthesized": synthesized,
            "background_context": result.background_context,
            "skill_reuse_plan": result.skill_reuse_plan,
            "provenance": result.kept_items,
            "novelty_retrieved_context": outcome.novelty_context,
            "kept_count": result.kept_count,
            "dropped_count": result.dropped_count,
            "total": outcome.total,
            "semantic_results": [] if compact else outcome.semantic_results,
            "graph_results": [] if compact else outcome.semantic_results,
            "skill_results": [] if compact else outcome.skills,
            "usage_log_id": outcome.usage_log_id,
            "search_mode": outcome.plan.mode,
            "timing_ms": timing,
        }
        if not compact:
            body["retrieval_plan"] = asdict(outcome.plan)
            body["action_state"] = asdict(outcome.action_state)
        return body

    # -- synthesize ------------------------------------------------------------------
    async def synthesize(
        self,
        *,
        user_query: str,
        semantic_results: Sequence[Mapping[str, Any]],
        graph_results: Sequence[Mapping[str, Any]],
        skill_results: Sequence[Mapping[str, Any]],
    ) -> dict[str, Any]:
        """``POST /memory/synthesize`` over client-supplied results (reads no storage)."""
        result = await self._ctx.synthesizer.from_client(
            user_query, semantic_results, graph_results, skill_results
        )
        return result.response()

    # -- reason ------------------------------------------------------------------------
    async def reason(
        self,
        *,
        user_id: str,
        session_id: str,
        user_query: str,
        background_context: str,
        skill_reuse_plan: Sequence[Mapping[str, Any]],
        retrieved_skills: Sequence[Mapping[str, Any]],
        append_to_session: bool,
    ) -> dict[str, Any]:
        """``POST /memory/reason``: one answer over a client-prepared context."""
        plan = [_plan_item(s) for s in skill_reuse_plan] or [
            _plan_item(s) for s in retrieved_skills if s.get("reusable") is True
        ]
        if len(plan) > MAX_REASON_SKILLS:
            raise ValidationFailed(f"at most {MAX_REASON_SKILLS} skills")
        service = self._memory
        if not append_to_session:
            return await self._answer(
                user_id, session_id, user_query, background_context, plan, append=False
            )
        async with service.locks.hold(user_id, session_id):
            return await self._answer(
                user_id, session_id, user_query, background_context, plan, append=True
            )

    async def _history(
        self, user_id: str, session_id: str, query: str, append: bool
    ) -> tuple[list[dict[str, str]], int]:
        service = self._memory
        if append:
            turn = service.build_turn(
                user_id=user_id, session_id=session_id, role="user", content=query
            )
            await service.sessions.append_turn(turn, now=service.clock.now_iso())
            await self._ctx.feedback.on_user_turn(
                user_id=user_id, session_id=session_id, text=turn.content
            )
            state = await service.working_memory.on_user_turn(user_id, session_id)
            return state.compressed_history, state.wm_token_usage
        if await service.sessions.get(user_id, session_id) is None:
            return [], 0
        state = await service.working_memory.render(user_id, session_id)
        return state.compressed_history, state.wm_token_usage

    async def _answer(
        self,
        user_id: str,
        session_id: str,
        query: str,
        background: str,
        plan: list[dict[str, Any]],
        *,
        append: bool,
    ) -> dict[str, Any]:
        reasoner = self._ctx.reasoner
        service = self._memory
        with usage_scope() as usage:
            history, wm_tokens = await self._history(user_id, session_id, query, append)
            if reasoner.mode == "memory_only":
                text = reasoner.memory_only_reason(background, plan)
            else:
                pieces = [
                    piece
                    async for piece in reasoner.stream(
                        query=query,
                        history=history,
                        background=background,
                        skill_plan=plan,
                        now=service.clock.now(),
                    )
                ]
                text = "".join(pieces)
        if append:
            turn = service.build_turn(
                user_id=user_id, session_id=session_id, role="assistant", content=text or " "
            )
            await service.sessions.append_turn(turn, now=service.clock.now_iso())
        return {
            "response": text,
            "final_response": text,
            "session_id": session_id,
            "wm_token_usage": wm_tokens,
            "mode": reasoner.mode,
            "turn_input_tokens": usage.input_tokens,
            "turn_output_tokens": usage.output_tokens,
        }

    # -- feedback ----------------------------------------------------------------------
    async def feedback(
        self,
        *,
        user_id: str,
        usage_log_id: str | None,
        session_id: str | None,
        feedback: str,
        record_ids: Sequence[str] | None,
        note: str | None,
    ) -> dict[str, Any]:
        """``POST /memory/feedback``."""
        return await self._ctx.feedback.explicit(
            user_id=user_id,
            feedback=feedback,
            usage_log_id=usage_log_id,
            session_id=session_id,
            record_ids=record_ids,
            note=note,
        )

    async def session_feedback(self, *, user_id: str, session_id: str) -> dict[str, str]:
        """``{usage_log_id: feedback}`` of the caller's session (the demo's history view)."""
        return await self._ctx.feedback.session_labels(user_id=user_id, session_id=session_id)

    async def implicit_feedback(self, *, user_id: str, session_id: str, text: str) -> None:
        """Apply implicit feedback for a user turn stored outside the chat pipeline."""
        await self._ctx.feedback.on_user_turn(user_id=user_id, session_id=session_id, text=text)
