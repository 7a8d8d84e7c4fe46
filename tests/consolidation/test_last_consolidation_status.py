"""``/pipeline/last-consolidation`` tells a claimed job from one still waiting in the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lycheemem.clock import format_ts

pytestmark = pytest.mark.anyio


async def test_running_job_reports_running_and_queued_job_pending(open_context) -> None:
    # A long debounce keeps the worker from claiming the job before the test does.
    ctx = await open_context(consolidate_debounce_s=3600)
    await ctx.service.append_turn(user_id="", session_id="s1", role="user", content="I like tea.")
    job = await ctx.service.consolidation.enqueue(user_id="", session_id="s1", auto=True)
    assert job is not None
    queued = await ctx.service.last_consolidation(user_id="", session_id="s1")
    assert queued["status"] == "pending"
    later = ctx.clock.now() + timedelta(hours=2)
    claimed = await ctx.jobs.claim(
        now=format_ts(later),
        lease_until=format_ts(later + timedelta(minutes=2)),
        kinds=("consolidate",),
        busy_sessions=set(),
    )
    assert claimed is not None and claimed.job_id == job.job_id
    running = await ctx.service.last_consolidation(user_id="", session_id="s1")
    assert running["status"] == "running" and running["job_id"] == job.job_id
