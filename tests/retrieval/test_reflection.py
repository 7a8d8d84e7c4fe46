"""Reflection rounds: the model names what the selection lacks, the search recalls it."""

from __future__ import annotations

from typing import Any

import pytest

from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio

QUERY = "How do I deploy the billing api?"
DEPLOY_STEPS = [
    "To deploy the billing api run helm upgrade billing ./chart.",
    "Deploy the billing api from the release branch.",
    "The billing api deploy goes to the staging namespace first.",
]
CONSTRAINT = "The migration dry run must pass before anything ships to production."
FUSE = {"decisions": [], "composites": []}
NOT_ENOUGH = {"enough": False, "missing_constraints": ["migration dry run"]}
SUPPLEMENT = {"semantic_queries": ["migration dry run before production"]}


async def _context(
    open_context, rounds: int, fillers: int = 0, **replies: Any
) -> tuple[Any, ScriptedLLM]:
    llm = ScriptedLLM(purpose_script({"extract": echo_extraction, "fuse": FUSE, **replies}))
    # Fusion at 0.8 keeps the three deploy steps apart, so they fill a top 3 on their own.
    ctx = await open_context(
        llm=llm,
        planner="heuristic",
        auto_consolidate=False,
        reflection_rounds=rounds,
        fusion_similarity=0.8,
    )
    notes = [f"Deploy note {n}: the billing api changelog lists item {n}." for n in range(fillers)]
    for text in [*DEPLOY_STEPS, *notes, CONSTRAINT]:
        await ctx.service.append_turn(user_id="", session_id="s1", role="user", content=text)
    await ctx.service.consolidate(user_id="", session_id="s1", background=False)
    llm.calls.clear()
    return ctx, llm


def _texts(outcome: Any) -> list[str]:
    return [p["semantic_text"] for p in outcome.provenance]


async def test_a_gap_named_by_the_model_is_recalled_and_selected(open_context) -> None:
    ctx, llm = await _context(
        open_context, rounds=1, reflect=[NOT_ENOUGH], reflect_plan=[SUPPLEMENT]
    )
    plain = await ctx.service.searcher.search(user_id="", query=QUERY, top_k=3)
    assert CONSTRAINT not in _texts(plain)  # nothing in the query points at it

    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert llm.purposes() == ["reflect", "reflect_plan"]
    assert CONSTRAINT in _texts(outcome)
    assert _texts(outcome)[0] == CONSTRAINT
    found = outcome.selected[0]
    assert found.breakdown["reflection_fit"] == 1.0
    (round_,) = outcome.reflection
    assert round_["enough"] is False
    assert round_["gaps"] == {
        "constraints": ["migration dry run"],
        "slots": [],
        "affordances": [],
        "failures": [],
    }
    # Items only the supplementary recall found are marked with the reflection channel.
    marked = [c for c in outcome.selected if "reflection" in c.channels]
    assert len(marked) <= round_["added"]
    check = llm.calls[0].messages[-1]["content"]
    assert QUERY in check and DEPLOY_STEPS[0] in check


async def test_the_supplementary_recall_adds_what_the_first_recall_missed(open_context) -> None:
    ctx, _ = await _context(
        open_context, rounds=1, fillers=60, reflect=[NOT_ENOUGH], reflect_plan=[SUPPLEMENT]
    )
    plain = await ctx.service.searcher.search(user_id="", query=QUERY, top_k=3)
    assert all(c.semantic_text != CONSTRAINT for c in plain.selected)

    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert outcome.reflection[0]["added"] >= 1
    found = next(c for c in outcome.selected if c.semantic_text == CONSTRAINT)
    assert "reflection" in found.channels


async def test_enough_memory_costs_one_call_and_changes_nothing(open_context) -> None:
    ctx, llm = await _context(open_context, rounds=2, reflect=[{"enough": True}])
    plain = await ctx.service.searcher.search(user_id="", query=QUERY, top_k=3)
    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert llm.purposes() == ["reflect"]
    assert _texts(outcome) == _texts(plain)
    assert outcome.reflection == [{"enough": True}]


async def test_each_round_costs_at_most_two_calls(open_context) -> None:
    ctx, llm = await _context(
        open_context,
        rounds=2,
        reflect=[NOT_ENOUGH, NOT_ENOUGH],
        reflect_plan=[SUPPLEMENT, SUPPLEMENT],
    )
    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert llm.purposes() == ["reflect", "reflect_plan", "reflect", "reflect_plan"]
    assert len(outcome.reflection) == 2
    assert outcome.reflection[1]["added"] == 0  # the same gaps find nothing new
    assert CONSTRAINT in _texts(outcome)


async def test_an_unusable_reply_keeps_the_selection(open_context) -> None:
    ctx, llm = await _context(open_context, rounds=1, reflect=["I think it is fine."])
    plain = await ctx.service.searcher.search(user_id="", query=QUERY, top_k=3)
    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert llm.purposes() == ["reflect"]
    assert _texts(outcome) == _texts(plain)


async def test_no_reflection_by_default_on_an_empty_memory_or_without_an_llm(
    open_context,
) -> None:
    ctx, llm = await _context(open_context, rounds=0)
    await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert llm.purposes() == []

    empty = ScriptedLLM(purpose_script({}))
    fresh = await open_context(llm=empty, planner="heuristic", reflection_rounds=2)
    outcome = await fresh.service.search(user_id="someone-else", query=QUERY, top_k=3)
    assert outcome.provenance == [] and empty.purposes() == []

    memory_only = await open_context(reflection_rounds=2)
    assert memory_only.service.operations.reflector is None
