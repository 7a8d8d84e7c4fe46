"""Bulk work (imports, background re-embedding) yields to interactive requests.

A bulk job marks itself with ``with bulk_work():``; the mark travels with the task's
context through every ``await``, so code deep below (the embedder) can send the job's
CPU-heavy steps to a separate low-priority lane without any signature changing. A
query embedding for a search then never queues behind an import's batches.

``BulkLane`` is that lane for plain CPU work: one worker thread whose OS scheduling
priority is lowered (Linux; best effort elsewhere), so on a loaded machine the kernel
runs the event loop and the interactive threads first. Bulk jobs share the one thread,
so however many imports run at once, their CPU-heavy steps use at most one core.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from lycheemem.errors import RateLimited

__all__ = [
    "BULK_NICENESS",
    "AdmissionGate",
    "BulkLane",
    "bulk_work",
    "in_bulk_work",
    "lower_thread_priority",
    "offload",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

# Niceness added to bulk threads: the kernel gives a nice-10 thread about a tenth of the
# CPU time of a nice-0 thread it competes with, and all of it when nothing else runs.
BULK_NICENESS = 10

_BULK: contextvars.ContextVar[bool] = contextvars.ContextVar("lycheemem_bulk", default=False)


@contextmanager
def bulk_work() -> Iterator[None]:
    """Mark everything awaited inside the block (in this task) as bulk work."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


def in_bulk_work() -> bool:
    """True inside a ``bulk_work()`` block of the current task."""
    return _BULK.get()


def lower_thread_priority(niceness: int = BULK_NICENESS) -> None:
    """Raise the calling thread's niceness by ``niceness`` (Linux: per thread).

    Lowering one's own priority needs no privilege. Where the platform has no per-thread
    priority the thread keeps the normal one: the lane still separates the work.
    """
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None or not hasattr(threading, "get_native_id"):
        return
    try:
        # On Linux a thread id is a valid PRIO_PROCESS target and affects that thread only.
        tid = threading.get_native_id()
        setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
    except OSError as exc:
        log.debug("could not lower the bulk thread's priority: %s", exc)


class BulkLane:
    """One low-priority worker thread for bulk CPU work, jobs run one at a time in order.

    ``run`` awaits a blocking callable there (the caller's context travels with it).
    ``close`` is idempotent; a closed lane starts a fresh thread when used again.
    """

    def __init__(self, *, name: str = "bulk", niceness: int = BULK_NICENESS) -> None:
        self._name = name
        self._niceness = niceness
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                1,
                thread_name_prefix=self._name,
                initializer=lower_thread_priority,
                initargs=(self._niceness,),
            )
        return self._executor

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the lane's thread, without blocking the event loop."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), context.run, fn, *args)

    def close(self) -> None:
        """Stop the thread once its queued jobs are done (does not wait)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


_SHARED_LANE = BulkLane(name="bulk")


async def offload(fn: Callable[..., T], *args: object) -> T:
    """Run blocking CPU work off the event loop.

    Inside ``bulk_work()`` it goes to the process-wide bulk lane (one low-priority thread,
    so all bulk jobs together use at most one core); otherwise to asyncio's thread pool.
    """
    if in_bulk_work():
        return await _SHARED_LANE.run(fn, *args)
    return await asyncio.to_thread(fn, *args)


class AdmissionGate:
    """At most ``limit`` holders at once; one more is turned away at once, never queued.

    A refusal is ``RateLimited`` (429 with ``Retry-After``), raised before the caller
    has spent anything on the request, so a flood costs neither memory nor a queue slot.
    """

    def __init__(self, limit: int, *, what: str, retry_after: int = 5) -> None:
        self.limit = limit
        self.what = what
        self.retry_after = retry_after
        self._held = 0

    @property
    def held(self) -> int:
        """Holders right now."""
        return self._held

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a slot for the block, or raise ``RateLimited`` when all are taken."""
        # Check and take with no await in between: the event loop makes this atomic.
        if self._held >= self.limit:
            raise RateLimited(
                f"{self.limit} {self.what} are already running on this server; "
                f"retry in {self.retry_after} s",
                self.retry_after,
            )
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
