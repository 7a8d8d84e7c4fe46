"""Corrections supersede (issue 15): the newer statement about the same subject and
attribute replaces the older one, in memory-only and in LLM mode, with its history kept."""

from __future__ import annotations

from typing import Any

import pytest

from lycheemem.domain.text.terms import record_id_for
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio

MANAGER = "My manager is Priya Nair."
NEW_MANAGER = "Quick update: my manager is now Tomas Berg."
DINNER = "The team dinner is on Friday."
MOVED = "Also, the team dinner moved from Friday to Saturday."


async def _say(ctx: Any, session: str, *texts: str) -> dict[str, Any]:
    for text in texts:
        await ctx.service.append_turn(user_id="", session_id=session, role="user", content=text)
    return await ctx.service.consolidate(user_id="", session_id=session, background=False)


async def _texts(ctx: Any, query: str) -> list[str]:
    found = await ctx.service.search(user_id="", query=query, top_k=10, include_skills=False)
    return [item["semantic_text"] for item in found.provenance]


async def _active(ctx: Any) -> list[dict[str, Any]]:
    page = await ctx.manage.list_items(
        user_id="", kind="all", memory_type=None, session_id=None, include_expired=False,
        q=None, order="created_asc", offset=0, limit=200,
    )  # fmt: skip
    return page.items


async def test_memory_only_a_correction_in_a_later_session_supersedes(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _say(ctx, "s1", MANAGER)
    report = await _say(ctx, "s2", NEW_MANAGER)

    assert report["records_updated"] == 1 and report["records_expired"] == 1
    store = SqliteSemanticStore(ctx.db)
    anchor_id = record_id_for("", "the user's manager is priya nair")
    anchor = (await store.records("", [anchor_id]))[anchor_id]
    assert anchor.semantic_text == "The user's manager is now Tomas Berg."
    assert anchor.version == 2 and not anchor.expired
    assert anchor.history[0]["semantic_text"] == "The user's manager is Priya Nair."
    assert {s.session_id for s in anchor.sources} == {"s1", "s2"}
    # The inspector shows the history; search returns the current value, never the old one.
    item = await ctx.manage.get_item(user_id="", item_id=anchor_id)
    assert [h["semantic_text"] for h in item["history"]] == ["The user's manager is Priya Nair."]
    texts = await _texts(ctx, "Who is my manager?")
    assert texts[0] == "The user's manager is now Tomas Berg."
    assert not any("Priya" in t for t in texts)


async def test_memory_only_corrections_inside_one_batch_and_no_fused_old_value(
    open_context,
) -> None:
    ctx = await open_context(auto_consolidate=False)
    report = await _say(ctx, "s1", MANAGER, DINNER, "I like long walks.", NEW_MANAGER, MOVED)

    assert report["records_updated"] == 2 and report["records_expired"] == 2
    active = [item["semantic_text"] for item in await _active(ctx)]
    assert "The team dinner moved from Friday to Saturday." in active
    assert "The user's manager is now Tomas Berg." in active
    # Neither a record nor a composite still states a replaced value.
    assert not any("Priya" in text or "is on Friday" in text for text in active)
    texts = await _texts(ctx, "When is the team dinner?")
    assert texts[0] == "The team dinner moved from Friday to Saturday."


async def test_an_update_cue_lets_a_less_similar_statement_replace_a_number(
    open_context,
) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _say(ctx, "s1", "The staging database has 16 GB of memory.")
    report = await _say(ctx, "s2", "The staging database now has 32 GB of memory.")

    assert report["records_updated"] == 1
    texts = await _texts(ctx, "How much memory does the staging database have?")
    assert texts[0] == "The staging database now has 32 GB of memory."
    assert not any("16 GB" in t for t in texts)


async def test_unrelated_statements_about_other_subjects_are_kept(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _say(ctx, "s1", MANAGER, "Alex's manager is Jo Park.")
    report = await _say(ctx, "s2", "My dentist is Tomas Berg.", "I use Docker.", "I use Vim.")

    assert report["records_updated"] == 0 and report["records_expired"] == 0
    active = " ".join(item["semantic_text"] for item in await _active(ctx))
    assert "Priya Nair" in active and "Jo Park" in active and "Vim" in active


def _llm(decisions: list[dict[str, Any]] | None = None) -> ScriptedLLM:
    """Extraction echoes each user turn as a fact; fusion answers ``decisions`` once."""
    fuse = [{"decisions": decisions or [], "composites": []}] * 3
    return ScriptedLLM(purpose_script({"extract": echo_extraction, "fuse": fuse}))


async def test_llm_mode_a_correction_the_model_left_as_add_still_supersedes(
    open_context,
) -> None:
    llm = _llm()  # the fusion call names no conflict
    ctx = await open_context(llm=llm, auto_consolidate=False)
    await _say(ctx, "s1", "Dana's manager is Priya Nair.")
    report = await _say(ctx, "s2", "Dana's manager is now Tomas Berg.")

    assert report["records_updated"] == 1 and report["records_expired"] == 1
    store = SqliteSemanticStore(ctx.db)
    anchor_id = record_id_for("", "dana's manager is priya nair.")
    anchor = (await store.records("", [anchor_id]))[anchor_id]
    assert anchor.semantic_text == "Dana's manager is now Tomas Berg."
    assert anchor.history[0]["semantic_text"] == "Dana's manager is Priya Nair."
    texts = await _texts(ctx, "Who is Dana's manager?")
    assert texts[0] == "Dana's manager is now Tomas Berg."
    assert not any("Priya" in t for t in texts)


async def test_llm_mode_a_correction_inside_one_batch_supersedes(open_context) -> None:
    llm = _llm()
    ctx = await open_context(llm=llm, auto_consolidate=False)
    report = await _say(
        ctx, "s1", "The team dinner is on Friday.", "The team dinner moved from Friday to Saturday."
    )

    assert report["records_updated"] == 1 and llm.purposes() == ["extract"]
    texts = await _texts(ctx, "When is the team dinner?")
    assert texts[0] == "The team dinner moved from Friday to Saturday."
    assert not any(t == "The team dinner is on Friday." for t in texts)


async def test_llm_mode_the_models_conflict_update_is_applied_once(open_context) -> None:
    decision = {
        "new": "n1",
        "action": "conflict_update",
        "target_id": "e1",
        "updated_semantic_text": "Dana's manager is Tomas Berg.",
        "updated_normalized_text": "dana manager tomas berg",
        "reason": "new manager",
    }
    llm = _llm([decision])
    ctx = await open_context(llm=llm, auto_consolidate=False)
    # Phrased so that no rule of memory-only mode matches: only the model's decision counts.
    await _say(ctx, "s1", "At Northwind in Oslo the manager of Dana is Priya Nair.")
    report = await _say(ctx, "s2", "At Northwind in Oslo the manager of Dana is Tomas Berg.")

    assert llm.purposes() == ["extract", "extract", "fuse"]
    assert report["records_updated"] == 1 and report["records_expired"] == 1
    texts = await _texts(ctx, "Who is Dana's manager?")
    assert texts[0] == "Dana's manager is Tomas Berg."
    assert not any("Priya" in t for t in texts)
