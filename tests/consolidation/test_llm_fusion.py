"""LLM-mode fusion: decisions that name an existing record (``e1``) change that record."""

from __future__ import annotations

from typing import Any

import pytest

from lycheemem.domain.text.terms import record_id_for
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio

OLD = "Alice prefers window seats on long flights."
NEW = "Alice prefers aisle seats on long flights."


async def _remember(ctx: Any, session: str, text: str) -> dict[str, Any]:
    await ctx.service.append_turn(user_id="", session_id=session, role="user", content=text)
    return await ctx.service.consolidate(user_id="", session_id=session, background=False)


async def _record(ctx: Any, text: str) -> Any:
    records = await SqliteSemanticStore(ctx.db).records("", [record_id_for("", text)])
    return records.get(record_id_for("", text))


async def _fusing(open_context, *decisions: dict[str, Any]) -> tuple[Any, ScriptedLLM]:
    """A context whose one fusion call answers with ``decisions`` (no composites)."""
    fuse = [{"decisions": list(decisions), "composites": []}]
    llm = ScriptedLLM(purpose_script({"extract": echo_extraction, "fuse": fuse}))
    return await open_context(llm=llm, auto_consolidate=False), llm


def _fusion_prompt(llm: ScriptedLLM) -> str:
    (call,) = [c for c in llm.calls if c.purpose == "fuse"]
    return call.messages[-1]["content"]


async def test_a_conflict_update_rewrites_the_existing_record_and_expires_the_new_one(
    open_context,
) -> None:
    ctx, llm = await _fusing(
        open_context,
        {
            "new": "n1",
            "action": "conflict_update",
            "target_id": "e1",
            "updated_semantic_text": NEW,
            "updated_normalized_text": "alice prefers aisle seats",
            "reason": "seat preference changed",
        },
    )
    await _remember(ctx, "s1", OLD)
    report = await _remember(ctx, "s2", NEW)

    prompt = _fusion_prompt(llm)
    assert "e1" in prompt and OLD in prompt and record_id_for("", OLD) not in prompt
    assert report["records_updated"] == 1 and report["records_expired"] == 1
    anchor = await _record(ctx, OLD)  # same id: updated in place
    assert anchor.semantic_text == NEW and anchor.version == 2 and not anchor.expired
    assert anchor.history[0]["semantic_text"] == OLD
    assert anchor.history[0]["reason"] == "seat preference changed"
    assert {s.session_id for s in anchor.sources} == {"s1", "s2"}
    incoming = await _record(ctx, NEW)
    assert incoming.expired and incoming.superseded_by == anchor.record_id
    found = await ctx.service.search(user_id="", query="which seats does Alice prefer?", top_k=3)
    assert [p["record_id"] for p in found.provenance if p.get("record_id")][:1] == [
        anchor.record_id
    ]


async def test_a_duplicate_is_merged_into_the_existing_record(open_context) -> None:
    ctx, _ = await _fusing(open_context, {"new": "n1", "action": "duplicate", "target_id": "e1"})
    await _remember(ctx, "s1", OLD)
    report = await _remember(ctx, "s2", OLD.replace("long", "long-haul"))

    assert report["records_added"] == 0
    anchor = await _record(ctx, OLD)
    assert anchor.semantic_text == OLD and not anchor.expired
    assert {s.session_id for s in anchor.sources} == {"s1", "s2"}
    assert await _record(ctx, OLD.replace("long", "long-haul")) is None


async def test_an_unknown_existing_alias_changes_nothing(open_context) -> None:
    ctx, llm = await _fusing(open_context, {"new": "n1", "action": "duplicate", "target_id": "e9"})
    await _remember(ctx, "s1", OLD)
    report = await _remember(ctx, "s2", NEW)

    assert llm.purposes().count("fuse") == 1
    assert report["records_added"] == 1 and report["records_updated"] == 0
    assert not (await _record(ctx, OLD)).expired
    assert not (await _record(ctx, NEW)).expired


async def test_only_new_records_with_a_close_neighbour_are_sent_to_fusion(open_context) -> None:
    ctx, llm = await _fusing(open_context)
    await _remember(ctx, "s1", OLD)
    unrelated = "The staging cluster runs Kubernetes 1.31 in three zones."
    for text in (NEW, unrelated):
        await ctx.service.append_turn(user_id="", session_id="s2", role="user", content=text)
    report = await ctx.service.consolidate(user_id="", session_id="s2", background=False)

    prompt = _fusion_prompt(llm)
    assert NEW in prompt and unrelated not in prompt
    assert "n2" not in prompt
    assert report["records_added"] == 2 and report["llm_calls"] == 2  # extract + fuse
