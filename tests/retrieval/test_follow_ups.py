"""What was said right after the best match joins the results (memory-only mode)."""

from __future__ import annotations

from typing import Any

import pytest

from lycheemem.retrieval import search as search_module

pytestmark = pytest.mark.anyio

CONVERSATION = [
    ("Joanna", "I finally finished my first full screenplay and printed it last Friday!"),
    ("Nate", "Congrats! What's it about?"),
    ("Joanna", "It's a mix of drama and romance."),
    ("Nate", "My turtles love strawberries and lettuce."),
]
OTHER = [
    f"My {n}th screenplay draft for the {place} festival is printed."
    for n, place in enumerate(["Berlin", "Lisbon", "Osaka", "Toronto", "Lima", "Oslo", "Hanoi"] * 3)
]
QUERY = "What genre is Joanna's first screenplay?"
GENRE = "drama and romance"


async def _memory(open_context) -> Any:
    ctx = await open_context(auto_consolidate=False)
    for speaker, text in CONVERSATION:
        await ctx.service.append_turn(
            user_id="", session_id="s1", role="user", content=f"{speaker}: {text}", speaker=speaker
        )
    for text in OTHER:
        await ctx.service.append_turn(
            user_id="", session_id="s0", role="user", content=f"Joanna: {text}", speaker="Joanna"
        )
    for session in ("s0", "s1"):
        await ctx.service.consolidate(user_id="", session_id=session, background=False)
    return ctx


async def test_the_details_said_after_the_best_match_are_returned(
    open_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = await _memory(open_context)
    with monkeypatch.context() as patched:
        patched.setattr(search_module, "FOLLOW_UP_SLOTS", 0)
        plain = await ctx.service.search(user_id="", query=QUERY, top_k=8)
    assert all(GENRE not in c.semantic_text for c in plain.selected)

    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=8)
    texts = [c.semantic_text for c in outcome.selected]
    assert "first full screenplay" in texts[0]
    follow = next(c for c in outcome.selected if GENRE in c.semantic_text)
    assert "follow_up" in follow.channels
    assert follow.score >= 0.9 * outcome.selected[0].score - 1e-9
    assert follow.item.source_session_id == "s1"
    assert len(outcome.selected) <= 8
    # Provenance points at the turn the detail was said in, not at the anchor's.
    item = next(p for p in outcome.provenance if GENRE in p["semantic_text"])
    assert item["source_turn_ids"] == [2]


async def test_small_result_sets_get_no_follow_ups(open_context) -> None:
    ctx = await _memory(open_context)
    outcome = await ctx.service.search(user_id="", query=QUERY, top_k=3)
    assert all("follow_up" not in c.channels for c in outcome.selected)
