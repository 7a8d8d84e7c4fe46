"""The whole LangGraph pipeline: stage order, LLM budgets, failures, streaming, disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from lycheemem.chat.graph import build_graph
from lycheemem.chat.runner import KEEPALIVE
from lycheemem.domain.ports import ChatMessage
from lycheemem.errors import LLMError
from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio
ACTION_QUERY = "How do I deploy the billing api with docker?"


class SlowLLM(ScriptedLLM):
    """A scripted LLM whose streamed answers start only after ``delay`` seconds."""

    def __init__(self, script: Any, delay: float) -> None:
        super().__init__(script)
        self.delay = delay

    async def stream(
        self, messages: Sequence[ChatMessage], *, purpose: str, **kwargs: Any
    ) -> AsyncIterator[str]:
        await asyncio.sleep(self.delay)
        async for piece in super().stream(messages, purpose=purpose, **kwargs):
            yield piece


async def _events(ctx: Any, message: str, session: str = "s1", **kw: Any) -> list[dict]:
    return [
        e
        async for e in ctx.service.chat_stream(
            user_id="", session_id=session, message=message, **kw
        )
    ]


def test_graph_has_the_five_stages_in_order() -> None:
    graph = build_graph().get_graph()
    edges = {(e.source, e.target) for e in graph.edges}
    chain = ["__start__", "wm_manager", "search", "synthesize", "reason", "finalize", "__end__"]
    assert {(a, b) for a, b in zip(chain, chain[1:], strict=False)} <= edges


async def test_memory_only_turn_runs_every_stage_and_stores_both_turns(open_context) -> None:
    ctx = await open_context()
    result = await ctx.service.chat(user_id="", session_id="s1", message="I like green tea.")
    assert result["mode"] == "memory_only"
    assert result["response"].startswith("[memory-only mode")
    assert set(result["trace"]) == {
        "wm_manager",
        "search_coordinator",
        "synthesizer",
        "reasoner",
        "consolidator",
    }
    assert result["turn_input_tokens"] == 0 and result["wm_token_usage"] > 0
    turns = await ctx.service.sessions.turns("", "s1")
    assert [t.role for t in turns] == ["user", "assistant"]
    assert result["consolidation_job_id"]
    log = await ctx.chat.context.feedback.get_log(
        user_id="", log_id=result["trace"]["search_coordinator"]["usage_log_id"]
    )
    assert log is not None and log.response_excerpt == result["response"][:500]


async def test_stream_event_order(open_context) -> None:
    ctx = await open_context()
    events = await _events(ctx, "I like green tea.")
    kinds = [e["type"] if e["type"] != "step" else e["step"] for e in events]
    tokens = [k for k in kinds if k == "token"]
    assert kinds[:3] == ["wm_manager", "search", "synthesize"]
    assert kinds[3 : 3 + len(tokens)] == tokens and tokens
    assert kinds[-3:] == ["reason", "answer", "done"]
    answer = events[-2]["content"]
    assert "".join(e["content"] for e in events if e["type"] == "token") == answer
    assert events[-1]["trace"]["reasoner"]["mode"] == "memory_only"


async def test_answer_path_uses_one_llm_call_for_plain_questions(open_context) -> None:
    llm = ScriptedLLM(purpose_script({"reason": "Green tea."}))
    ctx = await open_context(llm=llm, auto_consolidate=False)
    result = await ctx.service.chat(user_id="", session_id="s1", message="What do I drink?")
    assert llm.purposes() == ["reason"]
    assert result["mode"] == "llm" and result["response"] == "Green tea."
    assert result["turn_input_tokens"] > 0 and result["turn_output_tokens"] > 0


async def test_action_queries_use_the_planner_and_stay_within_two_calls(open_context) -> None:
    plan = {"mode": "action", "hypothetical_skill": "1. docker build\n2. docker push\n3. deploy"}
    llm = ScriptedLLM(purpose_script({"plan": plan, "reason": "Do it like this."}))
    ctx = await open_context(llm=llm, auto_consolidate=False)
    result = await ctx.service.chat(user_id="", session_id="s1", message=ACTION_QUERY)
    assert llm.purposes() == ["plan", "reason"]
    assert result["trace"]["search_coordinator"]["retrieval_plan"]["planner"] == "llm"


async def test_judge_mode_adds_exactly_one_call(open_context) -> None:
    llm = ScriptedLLM(
        purpose_script(
            {
                "judge": {"scores": [], "background_context": ""},
                "reason": "ok",
                "extract": echo_extraction,
                "fuse": {"decisions": [], "composites": []},
            }
        )
    )
    ctx = await open_context(
        llm=llm, synth_judge="llm", planner="heuristic", auto_consolidate=False
    )
    await ctx.service.append_turn(
        user_id="", session_id="s1", role="user", content="My favourite drink is green tea."
    )
    await ctx.service.consolidate(user_id="", session_id="s1", background=False)
    llm.calls.clear()
    result = await ctx.service.chat(user_id="", session_id="s1", message="What drink do I like?")
    assert llm.purposes() == ["judge", "reason"]
    assert result["trace"]["synthesizer"]["judge"] == "llm"


async def test_reason_failure_keeps_user_turn_and_writes_no_answer(open_context) -> None:
    llm = ScriptedLLM(purpose_script({"reason": LLMError("provider down")}))
    ctx = await open_context(llm=llm)
    with pytest.raises(LLMError):
        await ctx.service.chat(user_id="", session_id="s1", message="What do I drink?")
    turns = await ctx.service.sessions.turns("", "s1")
    assert [t.role for t in turns] == ["user"]
    events = await _events(ctx, "Again?")
    assert [e["type"] for e in events][-1] == "error"
    error = events[-1]
    assert error["code"] == "llm_error" and error["step"] == "reason" and error["retryable"]
    assert not any(e["type"] in ("answer", "done") for e in events)
    assert [t.role for t in await ctx.service.sessions.turns("", "s1")] == ["user", "user"]


async def test_disconnect_mid_answer_still_stores_the_answer(open_context) -> None:
    llm = SlowLLM(purpose_script({"reason": "A long answer that keeps going."}), delay=0.2)
    ctx = await open_context(llm=llm)
    stream = ctx.service.chat_stream(user_id="", session_id="s1", message="What do I drink?")
    first = await stream.__anext__()
    assert first["step"] == "wm_manager"
    await stream.aclose()
    await ctx.chat.drain(timeout=10)
    turns = await ctx.service.sessions.turns("", "s1")
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].content == "A long answer that keeps going."
    job = await ctx.jobs.latest("", "s1", "consolidate")
    assert job is not None


async def test_keepalive_is_emitted_while_waiting(open_context) -> None:
    llm = SlowLLM(purpose_script({"reason": "done"}), delay=0.3)
    ctx = await open_context(llm=llm, auto_consolidate=False)
    events = await _events(ctx, "What do I drink?", keepalive_s=0.05)
    assert any(e is KEEPALIVE for e in events)
    assert events[-1]["type"] == "done"


async def test_turns_of_one_session_are_serialised(open_context) -> None:
    llm = SlowLLM(purpose_script({"reason": "answer"}), delay=0.05)
    ctx = await open_context(llm=llm, auto_consolidate=False)
    await asyncio.gather(
        *(ctx.service.chat(user_id="", session_id="s1", message=f"q{n}") for n in range(3))
    )
    roles = [t.role for t in await ctx.service.sessions.turns("", "s1")]
    assert roles == ["user", "assistant"] * 3


async def test_turn_runs_even_if_the_stream_is_never_read(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    stream = ctx.service.chat_stream(user_id="", session_id="s1", message="I like green tea.")
    await ctx.chat.drain(timeout=10)
    assert [t.role for t in await ctx.service.sessions.turns("", "s1")] == ["user", "assistant"]
    events = [e async for e in stream]
    assert events[-1]["type"] == "done"
