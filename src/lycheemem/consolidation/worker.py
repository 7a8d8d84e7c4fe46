"""The in-process job worker: claims durable jobs from SQLite and runs them.

Jobs survive restarts: ``start()`` returns jobs left ``running`` by a dead
process to the queue. Failures retry with backoff; the watermark only moves
past committed batches, so a retry resumes where the failure happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from lycheemem.clock import Clock, format_ts
from lycheemem.domain.models import Job
from lycheemem.domain.ports import RETRY_DELAYS_S, JobStore

__all__ = ["JobWorker"]

log = logging.getLogger(__name__)
LEASE_S = 120
RENEW_S = 30
IDLE_POLL_S = 1.0

Runner = Callable[[Job], Awaitable[dict[str, Any]]]


class JobWorker:
    """Runs up to ``concurrency`` jobs at a time, never two of one session at once."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        runners: dict[str, Runner],
        clock: Clock,
        concurrency: int = 1,
        grace_s: float = 10.0,
        on_finished: Callable[[Job, dict[str, Any], float], None] | None = None,
        lease_s: float = LEASE_S,
    ) -> None:
        self._jobs = jobs
        # A replica that dies mid-job holds it until its lease runs out; then another
        # replica claims it. Renewal at a quarter of the lease survives a missed beat or two.
        self._lease_s = lease_s
        self._renew_s = min(RENEW_S, lease_s / 4)
        self._runners = runners
        self._clock = clock
        self._concurrency = concurrency
        self._grace_s = grace_s
        self._on_finished = on_finished
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._busy: set[tuple[str, str]] = set()
        self._done_events: dict[str, asyncio.Event] = {}

    @property
    def alive(self) -> bool:
        """True while the claim loop runs."""
        return self._loop_task is not None and not self._loop_task.done()

    def register(self, kind: str, runner: Runner) -> None:
        """Add a job kind (other packages, e.g. long documents, add their own)."""
        self._runners[kind] = runner

    async def start(self) -> None:
        """Requeue orphaned jobs and start claiming."""
        requeued = await self._jobs.requeue_running()
        if requeued:
            log.info("requeued %d jobs left running by a previous process", requeued)
        self._loop_task = asyncio.create_task(self._loop(), name="lycheemem-worker")

    def wake(self) -> None:
        """Look for claimable work now instead of at the next poll."""
        self._wake.set()

    def finished_event(self, job_id: str) -> asyncio.Event:
        """An event set when ``job_id`` finishes an attempt (used by synchronous callers)."""
        return self._done_events.setdefault(job_id, asyncio.Event())

    async def stop(self) -> None:
        """Stop claiming; give running jobs the grace period, then cancel them (they requeue)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = list(self._running.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            claimed = False
            if len(self._running) < self._concurrency:
                claimed = await self._claim_one()
            if not claimed:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=IDLE_POLL_S)

    async def _claim_one(self) -> bool:
        now = self._clock.now()
        try:
            job = await self._jobs.claim(
                now=format_ts(now),
                lease_until=format_ts(now + timedelta(seconds=self._lease_s)),
                kinds=tuple(self._runners),
                busy_sessions=set(self._busy),
            )
        except Exception:  # storage trouble must not kill the loop
            log.exception("claiming a job failed")
            return False
        if job is None:
            return False
        key = (job.user_id, job.session_id)
        self._busy.add(key)
        self._running[job.job_id] = asyncio.create_task(self._execute(job, key))
        return True

    async def _execute(self, job: Job, key: tuple[str, str]) -> None:
        started = time.perf_counter()
        renewer = asyncio.create_task(self._renew(job.job_id))
        result: dict[str, Any] = {}
        try:
            result = await self._runners[job.kind](job)
            await self._record_outcome(job, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is recorded on the job and retried
            log.exception("job %s (%s) failed", job.job_id, job.kind)
            await self._record_failure(job, exc)
        finally:
            renewer.cancel()
            self._busy.discard(key)
            self._running.pop(job.job_id, None)
            event = self._done_events.pop(job.job_id, None)
            if event is not None:
                event.set()
            if self._on_finished is not None:
                self._on_finished(job, result, time.perf_counter() - started)
            self._wake.set()

    async def _record_outcome(self, job: Job, result: dict[str, Any]) -> None:
        now = self._clock.now_iso()
        if result.get("error") == "cancelled":
            await self._jobs.cancel(job.job_id, now=now)
        else:
            await self._jobs.finish(job.job_id, now=now, result=result)

    async def _record_failure(self, job: Job, exc: Exception) -> None:
        now = self._clock.now()
        message = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        retry_at = None
        if job.attempts < job.max_attempts:
            delay = RETRY_DELAYS_S[min(job.attempts - 1, len(RETRY_DELAYS_S) - 1)]
            retry_at = format_ts(now + timedelta(seconds=delay))
        result = {
            "status": "failed",
            "job_id": job.job_id,
            "session_id": job.session_id,
            "error": message,
            "attempts": job.attempts,
            "next_attempt_at": retry_at,
        }
        await self._jobs.fail(
            job.job_id, now=format_ts(now), error=message, result=result, retry_at=retry_at
        )

    async def _renew(self, job_id: str) -> None:
        while True:
            await asyncio.sleep(self._renew_s)
            until = format_ts(self._clock.now() + timedelta(seconds=self._lease_s))
            await self._jobs.renew(job_id, lease_until=until)
