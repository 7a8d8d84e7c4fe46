"""Queueing, running and reporting consolidation jobs (shared by REST and MCP)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from lycheemem.clock import Clock, format_ts
from lycheemem.consolidation.consolidator import Consolidator, JobReport
from lycheemem.consolidation.worker import JobWorker
from lycheemem.domain.models import Job
from lycheemem.domain.ports import JobStore, SessionStore
from lycheemem.errors import SessionGone, SessionNotFound

__all__ = ["CONSOLIDATE", "ConsolidationService"]

CONSOLIDATE = "consolidate"
PRIORITY_EXPLICIT = 10
PRIORITY_AUTO = 0


def _skipped(session_id: str, reason: str) -> dict[str, Any]:
    report = JobReport(job_id="", session_id=session_id)
    return report.as_result("skipped", job_id=None, skipped_reason=reason, has_novelty=None)


def job_result(job: Job) -> dict[str, Any]:
    """The ConsolidationResult view of a job row (API.md §2.6 / last-consolidation)."""
    base = dict(job.result or {})
    if not base:
        base = JobReport(job_id=job.job_id, session_id=job.session_id).as_result("started")
    status = {"queued": "started", "running": "started"}.get(job.status, job.status)
    if job.status == "done":
        status = base.get("status", "done")
    if job.status == "queued" and job.error:
        status = "failed"
    base.update(
        status=status,
        job_id=job.job_id,
        session_id=job.session_id,
        attempts=job.attempts,
        error=job.error if job.status in ("failed", "queued") else base.get("error"),
        next_attempt_at=job.not_before if job.status == "queued" and job.error else None,
    )
    return base


class ConsolidationService:
    """Enqueues consolidation jobs and runs them through the worker."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        sessions: SessionStore,
        consolidator: Consolidator,
        worker: JobWorker,
        clock: Clock,
        max_attempts: int,
        debounce_s: float,
        sync_timeout_s: float,
    ) -> None:
        self._jobs = jobs
        self._sessions = sessions
        self.consolidator = consolidator
        self.worker = worker
        self._clock = clock
        self._max_attempts = max_attempts
        self._debounce_s = debounce_s
        self._sync_timeout_s = sync_timeout_s
        worker.register(CONSOLIDATE, self.run_job)

    async def run_job(self, job: Job) -> dict[str, Any]:
        """Worker entry point for one consolidation attempt."""
        report = JobReport(job_id=job.job_id, session_id=job.session_id)
        try:
            result = await self.consolidator.run(
                job, cancelled=lambda: self._jobs.is_cancelled(job.job_id), report=report
            )
        except SessionGone:
            result = report.as_result("skipped", skipped_reason="session_deleted")
        result["attempts"] = job.attempts
        result["next_attempt_at"] = None
        return result

    async def enqueue(
        self,
        *,
        user_id: str,
        session_id: str,
        retrieved_context: str = "",
        force: bool = False,
        auto: bool = False,
        wake: bool = True,
    ) -> Job | None:
        """Queue (or reuse) the session's job; None when no turn lies after the watermark."""
        session = await self._sessions.get(user_id, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        if session.turn_count <= session.consolidated_until:
            return None
        now = self._clock.now()
        delay = self._debounce_s if auto else 0.0
        job = await self._jobs.enqueue(
            kind=CONSOLIDATE,
            user_id=user_id,
            session_id=session_id,
            now=format_ts(now),
            not_before=format_ts(now + timedelta(seconds=delay)),
            priority=PRIORITY_AUTO if auto else PRIORITY_EXPLICIT,
            max_attempts=self._max_attempts,
            retrieved_context=retrieved_context,
            force=force,
        )
        if wake:
            self.worker.wake()
        return job

    async def consolidate(
        self,
        *,
        user_id: str,
        session_id: str,
        retrieved_context: str = "",
        background: bool = True,
        force: bool = False,
    ) -> dict[str, Any]:
        """Queue the session's job; with ``background=False`` wait for its first attempt."""
        job = await self.enqueue(
            user_id=user_id,
            session_id=session_id,
            retrieved_context=retrieved_context,
            force=force,
            wake=False,
        )
        if job is None:
            return _skipped(session_id, "no_new_turns")
        if background:
            self.worker.wake()
            return job_result(job)
        finished = self.worker.finished_event(job.job_id)
        self.worker.wake()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), timeout=self._sync_timeout_s)
        latest = await self._jobs.get(user_id, job.job_id)
        return job_result(latest or job)

    async def last(self, *, user_id: str, session_id: str | None) -> dict[str, Any]:
        """``GET /pipeline/last-consolidation``."""
        job = await self._jobs.latest(user_id, session_id, CONSOLIDATE)
        if job is None:
            result = _skipped(session_id or "", "none")
            result.update(
                status="none",
                skipped_reason=None,
                created_at=None,
                started_at=None,
                finished_at=None,
            )
            return result
        result = job_result(job)
        if job.status in ("queued", "running"):
            # A claimed job says so: "pending" only while it still waits in the queue.
            result["status"] = "running" if job.status == "running" else "pending"
        result.update(
            created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at
        )
        return result
