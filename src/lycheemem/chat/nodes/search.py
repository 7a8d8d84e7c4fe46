"""Stage 2: the search coordinator (plan, multi-channel recall, skills, novelty context)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lycheemem.chat.nodes._common import calls_mark, calls_since
from lycheemem.chat.state import PipelineState
from lycheemem.domain.models import ActionState, SearchPlan
from lycheemem.retrieval.search import PlanRefiner

if TYPE_CHECKING:
    from langgraph.runtime import Runtime

    from lycheemem.chat.state import PipelineContext
    from lycheemem.retrieval.planner.llm import LLMPlanner

__all__ = ["plan_refiner", "search", "search_trace"]


def plan_refiner(planner: LLMPlanner | None) -> PlanRefiner | None:
    """Adapt the LLM planner to the search's plan hook (None without a planner)."""
    if planner is None:
        return None

    async def refine(
        query: str, plan: SearchPlan, state: ActionState, recent: str, reference: datetime
    ) -> SearchPlan:
        return await planner.refine(
            query=query, plan=plan, state=state, recent_context=recent, reference=reference
        )

    return refine


def search_trace(
    provenance: list[dict[str, Any]],
    skills: list[dict[str, Any]],
    plan: dict[str, Any],
    action_state: dict[str, Any],
    usage_log_id: str | None,
    feedback_update: dict[str, Any] | None,
    reflection: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``search_coordinator`` trace fragment (API.md §2.7)."""
    return {
        "graph_memories": [
            {
                "node_id": p["record_id"],
                "name": str(p["semantic_text"])[:120],
                "label": p["memory_type"],
                "score": p["score"],
                "neighbor_count": len(p.get("entities") or []),
            }
            for p in provenance
        ],
        "skills": [
            {
                "skill_id": s["skill_id"],
                "intent": s["intent"],
                "score": s["score"],
                "reusable": s["reusable"],
            }
            for s in skills
        ],
        "total_retrieved": len(provenance) + len(skills),
        "retrieval_plan": plan,
        "action_state": action_state,
        "search_mode": plan.get("mode", "answer"),
        "usage_log_id": usage_log_id,
        "feedback_update": feedback_update,
        "reflection": reflection or [],
    }


async def search(state: PipelineState, runtime: Runtime[PipelineContext]) -> dict[str, Any]:
    """Plan (heuristic, LLM when the policy wants it), recall, score, select; log usage."""
    ctx = runtime.context
    mark = calls_mark()
    outcome = await ctx.memory.searcher.search(
        user_id=state["user_id"],
        query=state["user_query"],
        top_k=state.get("top_k", 5),
        session_id=state["session_id"],
        reference_time=state.get("reference_time"),
        token_budget=state.get("wm_token_usage", 0),
        planner=plan_refiner(ctx.planner),
        reflector=ctx.reflector,
    )
    plan = asdict(outcome.plan)
    action_state = asdict(outcome.action_state)
    return {
        "recent_context": outcome.recent_context,
        "action_state": action_state,
        "retrieval_plan": plan,
        "search_mode": outcome.plan.mode,
        "provenance_raw": outcome.provenance,
        "constructed_context": outcome.constructed_context,
        "novelty_retrieved_context": outcome.novelty_context,
        "retrieved_skills": outcome.skills,
        "usage_log_id": outcome.usage_log_id,
        "search_trace": search_trace(
            outcome.provenance,
            outcome.skills,
            plan,
            action_state,
            outcome.usage_log_id,
            state.get("feedback_update"),
            outcome.reflection,
        ),
        "llm_calls": calls_since(mark),
    }
