"""Tests for ActionState derivation and the heuristic planner with its merge."""

from __future__ import annotations

from datetime import UTC, datetime

from lycheemem.domain.models import ActionState, SearchPlan, Turn
from lycheemem.retrieval.planner.heuristic import (
    derive_action_state,
    heuristic_plan,
    merge_action_state,
    plan_mode,
)

REF = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)


def _turn(content: str, index: int, role: str = "user", metadata: dict | None = None) -> Turn:
    return Turn(
        user_id="u",
        session_id="s",
        turn_index=index,
        role=role,  # type: ignore[arg-type]
        content=content,
        created_at="2026-03-16T09:00:00.000Z",
        metadata=metadata,
    )


def _plan(query: str, state: ActionState | None = None, top_k: int = 5) -> SearchPlan:
    state = state or derive_action_state(query, [], "", 0)
    return heuristic_plan(query, state, top_k=top_k, reference=REF, timezone="UTC")


def test_plan_modes() -> None:
    assert plan_mode("What is my favourite colour?") == "answer"
    assert plan_mode("Deploy the api to staging") == "action"
    assert plan_mode("Which namespace should I use to deploy the api?") == "mixed"
    assert plan_mode("When did the deploy fail?") == "answer"
    assert plan_mode("How do I deploy? which namespace?") == "mixed"
    assert plan_mode("怎么部署到什么环境") == "mixed"


def test_action_state_from_query_and_context() -> None:
    turns = [
        _turn("We deploy with helm. Never deploy on Fridays.", 0),
        _turn("ok", 1, "assistant", {"tool_name": "kubectl", "tool_result": "x" * 900}),
        _turn("The rollout failed with ImagePullBackOff.", 2),
    ]
    context = "\n".join(f"{t.role}: {t.content}" for t in turns)
    state = derive_action_state("Deploy v2.3 of the api", turns, context, 1234)
    assert state.current_subgoal == "Deploy v2.3 of the api"
    assert state.tentative_action == "Deploy v2.3 of the api"
    assert state.last_tool_name == "kubectl"
    assert len(state.last_tool_result) == 500
    assert state.missing_slots == ["environment", "namespace"]
    assert state.known_constraints == ["Never deploy on Fridays."]
    assert state.available_tools == ["helm", "kubectl"]
    assert state.failure_signal.startswith("user: The rollout failed")
    assert state.token_budget == 1234
    assert state.recent_context_excerpt == context[:1000]


def test_tentative_action_from_last_user_turn_and_empty_context_fallback() -> None:
    turns = [_turn("Can you restart nginx on web-1?", 0)]
    state = derive_action_state("is it safe now", turns, "", 0)
    assert state.tentative_action == "is it safe now"
    assert "nginx" in state.available_tools
    quiet = derive_action_state("what is my name", [_turn("I like tea", 0)], "", 0)
    assert quiet.tentative_action == "" and quiet.missing_slots == []


def test_answer_plan_defaults() -> None:
    plan = _plan("What is my favourite colour?", top_k=7)
    assert plan.mode == "answer"
    assert plan.semantic_queries == ["What is my favourite colour?"]
    assert plan.pragmatic_queries == []
    assert plan.temporal_filter is None
    assert (plan.tree_retrieval_mode, plan.tree_expansion_depth) == ("balanced", 1)
    assert plan.include_leaf_records is False
    assert plan.depth == 7
    assert plan.planner == "heuristic"


def test_action_plan_descends_and_has_pragmatic_queries() -> None:
    plan = _plan("Deploy the api with helm to staging")
    assert plan.mode == "action"
    assert (plan.tree_retrieval_mode, plan.tree_expansion_depth) == ("descend", 2)
    assert plan.include_leaf_records is True
    assert plan.pragmatic_queries[0] == "Deploy the api with helm to staging"
    assert "Deploy the api with helm to staging helm" in plan.pragmatic_queries
    assert plan.tool_hints == ["helm"]
    assert plan.missing_slots == ["namespace", "version"]


def test_overview_query_is_root_only() -> None:
    plan = _plan("Summarize all my travel preferences")
    assert plan.tree_retrieval_mode == "root_only"
    assert plan.include_leaf_records is False
    assert _plan("总结一下我的爱好").tree_retrieval_mode == "root_only"


def test_temporal_filter_from_query() -> None:
    plan = _plan("What did I do last week?")
    assert plan.temporal_filter == {
        "since": "2026-03-09T00:00:00.000Z",
        "until": "2026-03-15T23:59:59.999Z",
    }
    assert _plan("上周做了什么").temporal_filter is not None


def test_long_query_adds_key_clauses() -> None:
    query = (
        "I have been thinking about many different things lately, "
        "especially the postgres replication lag on the analytics cluster, "
        "and also whether our nightly pg_dump backups to the S3 bucket are still complete, "
        "ok."
    )
    plan = _plan(query)
    assert len(query) > 200
    assert plan.semantic_queries[0] == query
    assert 2 <= len(plan.semantic_queries) <= 3
    assert any("pg_dump" in q for q in plan.semantic_queries[1:])


def test_merge_upgrades_answer_to_mixed_and_unions_lists() -> None:
    plan = SearchPlan(mode="answer", semantic_queries=["q"], tool_hints=["Helm"])
    state = ActionState(
        tentative_action="deploy the api",
        available_tools=["helm", "kubectl"],
        known_constraints=["never on Fridays"],
        missing_slots=["namespace"],
    )
    merged = merge_action_state(plan, state)
    assert merged.mode == "mixed"
    assert merged.tool_hints == ["Helm", "kubectl"]
    assert merged.required_constraints == ["never on Fridays"]
    assert merged.missing_slots == ["namespace"]
    assert merged.pragmatic_queries == ["deploy the api"]
    assert merged.include_leaf_records is True
    assert plan.mode == "answer"  # the input plan is not mutated


def test_merge_keeps_answer_without_tentative_action_and_caps_lists() -> None:
    plan = SearchPlan(mode="answer", tool_hints=[f"t{i}" for i in range(6)])
    state = ActionState(available_tools=[f"T{i}" for i in range(3, 12)])
    merged = merge_action_state(plan, state)
    assert merged.mode == "answer"
    assert merged.pragmatic_queries == []
    assert len(merged.tool_hints) == 8
    assert merged.tool_hints[:6] == [f"t{i}" for i in range(6)]


def test_plan_never_raises_on_odd_input() -> None:
    for query in ["", "   ", '"NEAR(*', "😀", "?" * 500]:
        plan = _plan(query)
        assert plan.mode in ("answer", "action", "mixed")
        assert plan.depth == 5
