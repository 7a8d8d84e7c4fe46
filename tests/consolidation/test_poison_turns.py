"""One turn that always fails consolidation is skipped on the last attempt, never blocking the
session: its error is recorded and shown in ``/pipeline/status``; later turns consolidate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from lycheemem.errors import LLMError
from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio
FUSE = {"decisions": [], "composites": []}


def _extract_unless_poisoned(messages: Sequence[Any]) -> dict[str, Any]:
    if "POISON" in messages[-1]["content"]:
        raise ValueError("this turn can never be consolidated")
    return echo_extraction(messages)


async def _append(ctx: Any, *texts: str) -> None:
    for text in texts:
        await ctx.service.append_turn(user_id="", session_id="s1", role="user", content=text)


async def _consolidate(ctx: Any) -> dict[str, Any]:
    return await ctx.service.consolidation.consolidate(
        user_id="", session_id="s1", background=False
    )


async def test_poisoned_turn_is_skipped_and_later_turns_consolidate(open_context) -> None:
    llm = ScriptedLLM(purpose_script({"extract": _extract_unless_poisoned, "fuse": FUSE}))
    ctx = await open_context(llm=llm, planner="heuristic", job_max_attempts=1)
    await _append(ctx, "I like green tea.", "POISON pill", "My dog is called Rex.")
    first = await _consolidate(ctx)
    assert first["status"] == "done", first
    assert [s["turn_index"] for s in first["skipped_turns"]] == [1]
    assert "ValueError" in first["skipped_turns"][0]["error"]
    texts = await ctx.db.read(
        lambda conn: {row[0] for row in conn.execute("SELECT semantic_text FROM memory_records")}
    )
    assert {"I like green tea.", "My dog is called Rex."} <= texts
    status = await ctx.manage.status_counts(user_id="")
    assert status["skipped_turn_count"] == 1
    assert status["skipped_turns"][0]["session_id"] == "s1"
    await _append(ctx, "I moved to Lisbon.")
    later = await _consolidate(ctx)
    assert later["status"] == "done" and later["watermark"] == 4, later


async def test_transient_failure_is_retried_not_skipped(open_context) -> None:
    llm = ScriptedLLM(purpose_script({"extract": LLMError("provider down"), "fuse": FUSE}))
    ctx = await open_context(llm=llm, planner="heuristic", job_max_attempts=1)
    await _append(ctx, "I like green tea.")
    result = await _consolidate(ctx)
    assert result["status"] == "failed" and "provider down" in result["error"]
    assert (await ctx.manage.status_counts(user_id=""))["skipped_turn_count"] == 0


async def test_turn_stored_at_the_calendar_limit_consolidates(open_context) -> None:
    # Written before timestamps were range-checked at the edge: "tomorrow" has no date.
    ctx = await open_context(job_max_attempts=1)
    await _append(ctx, "Tomorrow I will fly to Rome.")
    await ctx.db.write(
        lambda conn: conn.execute("UPDATE turns SET created_at = '9999-12-31T23:59:59.000Z'")
    )
    result = await _consolidate(ctx)
    assert result["status"] == "done" and result["skipped_turns"] == [], result
    assert result["records_added"] >= 1
