"""The LLM planner: when it runs, how its output is validated, HyDE drafts, fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lycheemem.domain.models import ActionState
from lycheemem.errors import LLMError
from lycheemem.retrieval.planner.heuristic import derive_action_state, heuristic_plan
from lycheemem.retrieval.planner.llm import (
    LLMPlanner,
    PlannerOutput,
    needs_llm_planner,
    plan_from_output,
)
from lycheemem.testing import ScriptedLLM

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


def _heuristic(query: str):
    state = derive_action_state(query, [], "", 0)
    return heuristic_plan(query, state, top_k=5, reference=NOW, timezone="UTC"), state


def test_auto_policy_runs_only_for_action_long_or_multi_question_queries() -> None:
    answer, _ = _heuristic("What is my favourite colour")
    action, _ = _heuristic("How do I deploy the api with docker?")
    assert not needs_llm_planner("auto", "What is my favourite colour", answer)
    assert needs_llm_planner("auto", "How do I deploy the api with docker?", action)
    assert needs_llm_planner("auto", "Where? When?", answer)
    assert needs_llm_planner("auto", "x" * 301, answer)
    assert needs_llm_planner("llm", "What is my favourite colour", answer)
    assert not needs_llm_planner("heuristic", "How do I deploy?", action)


def test_invalid_enums_fall_back_to_heuristic_values() -> None:
    plan, state = _heuristic("How do I deploy the api with docker?")
    output = PlannerOutput(
        mode="explode",
        tree_retrieval_mode="sideways",
        tree_expansion_depth=9,
        semantic_queries=["docker deploy steps"],
        temporal_filter={"since": "not a date", "until": None},
        hypothetical_skill="1. docker build\n2. docker push\n3. kubectl apply",
    )
    merged = plan_from_output(output, plan, state, "How do I deploy the api with docker?")
    assert merged.mode == plan.mode
    assert merged.tree_retrieval_mode == plan.tree_retrieval_mode
    assert merged.tree_expansion_depth == plan.tree_expansion_depth
    assert merged.temporal_filter == plan.temporal_filter
    assert merged.planner == "llm"
    assert merged.semantic_queries[0] == "How do I deploy the api with docker?"
    assert "docker deploy steps" in merged.semantic_queries
    assert merged.hypothetical_skill.startswith("1. docker build")


def test_valid_output_is_used_and_answer_mode_drops_hyde() -> None:
    plan, state = _heuristic("what did I do")
    output = PlannerOutput(
        mode="answer",
        temporal_filter={"since": "2026-03-01T00:00:00Z", "until": "2026-03-07T23:59:59Z"},
        hypothetical_skill="should be ignored",
        tree_retrieval_mode="root_only",
    )
    merged = plan_from_output(output, plan, ActionState(current_subgoal="q"), "what did I do")
    assert merged.temporal_filter == {
        "since": "2026-03-01T00:00:00.000Z",
        "until": "2026-03-07T23:59:59.000Z",
    }
    assert merged.hypothetical_skill == ""
    assert merged.tree_retrieval_mode == "root_only"


async def test_refine_calls_once_and_falls_back_on_failure() -> None:
    plan, state = _heuristic("How do I deploy the api with docker?")
    llm = ScriptedLLM([{"mode": "action", "hypothetical_skill": "1. build 2. push 3. apply"}])
    planner = LLMPlanner(llm=llm, policy="auto")
    refined = await planner.refine(
        query="How do I deploy the api with docker?",
        plan=plan,
        state=state,
        recent_context="user: hi",
        reference=NOW,
    )
    assert llm.purposes() == ["plan"]
    assert refined.planner == "llm" and refined.hypothetical_skill
    prompt = llm.calls[0].messages[-1]["content"]
    assert "2026-03-14T09:30:00.000Z" in prompt and "user: hi" in prompt
    failing = LLMPlanner(llm=ScriptedLLM([LLMError("down")]), policy="auto")
    kept = await failing.refine(
        query="How do I deploy the api with docker?",
        plan=plan,
        state=state,
        recent_context="",
        reference=NOW,
    )
    assert kept is plan and failing.fallbacks == 1


async def test_refine_skips_the_llm_for_plain_answer_queries() -> None:
    plan, state = _heuristic("What is my favourite colour")
    llm = ScriptedLLM([])
    refined = await LLMPlanner(llm=llm).refine(
        query="What is my favourite colour",
        plan=plan,
        state=state,
        recent_context="",
        reference=NOW,
    )
    assert refined is plan and llm.calls == []
