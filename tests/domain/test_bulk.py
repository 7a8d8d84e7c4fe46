"""``domain.bulk``: the bulk-work mark, the low-priority lane and the admission gate."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from lycheemem.domain.bulk import (
    BULK_NICENESS,
    AdmissionGate,
    BulkLane,
    bulk_work,
    in_bulk_work,
    offload,
)
from lycheemem.errors import RateLimited

pytestmark = pytest.mark.anyio


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_the_bulk_mark_covers_the_block_and_the_tasks_it_starts() -> None:
    async def seen() -> bool:
        await asyncio.sleep(0)
        return in_bulk_work()

    assert not in_bulk_work()
    with bulk_work():
        assert in_bulk_work()
        assert await asyncio.create_task(seen())
        assert await asyncio.to_thread(in_bulk_work)
    assert not in_bulk_work()
    assert not await asyncio.create_task(seen())


async def test_the_lane_runs_jobs_on_one_thread_at_a_lower_priority() -> None:
    lane = BulkLane(name="test-bulk")
    try:
        names = {await lane.run(lambda: threading.current_thread().name) for _ in range(3)}
        lane_niceness = await lane.run(_niceness)
    finally:
        lane.close()
    assert len(names) == 1 and names.pop().startswith("test-bulk")
    # Lowering one's own priority needs no privilege, so on Linux it always happens.
    assert lane_niceness == min(19, _niceness() + BULK_NICENESS)
    assert _niceness() < lane_niceness or _niceness() == 19  # the caller is untouched


async def test_the_lane_carries_the_callers_context() -> None:
    lane = BulkLane()
    try:
        with bulk_work():
            assert await lane.run(in_bulk_work)
        assert not await lane.run(in_bulk_work)
    finally:
        lane.close()


def test_the_gate_turns_the_one_over_the_limit_away_with_retry_after() -> None:
    gate = AdmissionGate(2, what="imports", retry_after=7)
    with gate.admit(), gate.admit():
        assert gate.held == 2
        with pytest.raises(RateLimited) as refused, gate.admit():
            pass
        assert refused.value.retry_after == 7
        assert "2 imports are already running" in str(refused.value)
        assert gate.held == 2  # a refusal takes no slot
    assert gate.held == 0
    with gate.admit():  # slots come back, also after an error inside the block
        pass
    with pytest.raises(ValueError), gate.admit():
        raise ValueError("boom")
    assert gate.held == 0


async def test_offload_sends_bulk_work_to_the_low_priority_lane_only() -> None:
    def where() -> tuple[str, int]:
        return threading.current_thread().name, _niceness()

    name, niceness = await offload(where)
    assert not name.startswith("bulk") and niceness == _niceness()
    with bulk_work():
        name, niceness = await offload(where)
    assert name.startswith("bulk") and niceness == min(19, _niceness() + BULK_NICENESS)
