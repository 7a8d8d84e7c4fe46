"""Background consolidation after chat turns: LLM budget per batch, resume after a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from lycheemem.clock import format_ts
from lycheemem.testing import ScriptedLLM, echo_extraction, purpose_script

pytestmark = pytest.mark.anyio
FUSE = {"decisions": [], "composites": []}


async def _wait_done(ctx: Any, session: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        last = await ctx.service.last_consolidation(user_id="", session_id=session)
        if last["status"] not in ("pending", "running", "none"):
            return last
        assert asyncio.get_running_loop().time() < deadline, last
        await asyncio.sleep(0.05)


async def test_chat_turns_are_consolidated_in_the_background(open_context) -> None:
    llm = ScriptedLLM(
        purpose_script({"reason": "Noted.", "extract": echo_extraction, "fuse": FUSE})
    )
    ctx = await open_context(llm=llm, planner="heuristic")
    result = await ctx.service.chat(
        user_id="", session_id="s1", message="My build server is called Hopper."
    )
    assert result["trace"]["consolidator"] == {
        "status": "queued",
        "job_id": result["consolidation_job_id"],
    }
    done = await _wait_done(ctx, "s1")
    assert done["status"] == "done" and done["watermark"] == 2
    assert done["records_added"] == 1
    assert done["llm_calls"] == 1  # extraction only: nothing related existed yet
    assert llm.purposes() == ["reason", "extract"]


async def test_at_most_one_extraction_and_one_fusion_call_per_batch(open_context) -> None:
    llm = ScriptedLLM(purpose_script({"extract": echo_extraction, "fuse": FUSE}))
    ctx = await open_context(llm=llm, auto_consolidate=False, consolidate_batch_turns=4)
    for n in range(10):
        await ctx.service.append_turn(
            user_id="",
            session_id="s1",
            role="user",
            content=f"Server number {n} runs the billing api.",
        )
    result = await ctx.service.consolidate(user_id="", session_id="s1", background=False)
    batches = sum(1 for step in result["steps"] if step["step"] == "extract")
    assert batches == 3 and result["turns_consolidated"] == 10
    assert llm.purposes().count("extract") == batches
    assert llm.purposes().count("fuse") <= batches
    assert result["llm_calls"] == len(llm.calls) <= 2 * batches


async def test_running_job_resumes_after_a_crash(open_context) -> None:
    first = await open_context(auto_consolidate=False)
    for text in ("Alice lives in Lisbon.", "Alice works as a pilot.", "Alice likes jazz."):
        await first.service.append_turn(user_id="", session_id="s1", role="user", content=text)
    await first.worker.stop()
    job = await first.service.consolidation.enqueue(user_id="", session_id="s1", wake=False)
    now = first.clock.now()
    claimed = await first.jobs.claim(
        now=format_ts(now),
        lease_until=format_ts(now + timedelta(seconds=120)),
        kinds=("consolidate",),
        busy_sessions=set(),
    )
    assert claimed is not None and claimed.job_id == job.job_id
    await first.close()  # the process "dies" with the job marked running

    second = await open_context(auto_consolidate=False)
    done = await _wait_done(second, "s1")
    assert done["job_id"] == job.job_id
    assert done["status"] == "done" and done["watermark"] == 3
    assert done["attempts"] == 2
    session = await second.service.sessions.get("", "s1")
    assert session.consolidated_until == 3


def test_llm_fusion_sees_only_close_neighbours_and_a_bounded_number() -> None:
    from lycheemem.consolidation.merging import LLM_RELATED_MAX, closest
    from lycheemem.domain.models import MemoryRecord

    def record(n: int) -> MemoryRecord:
        return MemoryRecord(f"r{n}", "", "fact", f"t{n}", f"t{n}", "now", "now")

    related = {f"r{n}": record(n) for n in range(40)}
    hits = [[(f"r{row * 5 + n}", 0.9 - n * 0.1) for n in range(5)] for row in range(8)]
    hits.append([("new1", 1.0), ("r39", 0.2)])
    close = closest(hits, related, ["new1"])
    assert len(close) <= LLM_RELATED_MAX
    assert "r39" not in close and "new1" not in close
    # three per new record (never the 4th, r3), closest first: the 0.9s and 0.8s win
    assert "r3" not in close and {"r0", "r1"} <= set(close) and "r2" not in close
    assert closest([[("r1", 0.3)]], related, []) == {}
