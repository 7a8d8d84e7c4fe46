"""The feedback loop (MEMORY.md §13): implicit labels from user turns, explicit labels by API.

Every update runs in one writer transaction, after any queued usage-log
insert (the writer is a single FIFO thread), so a log returned by a search a
moment earlier is always visible.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lycheemem.errors import RecordNotFound, UsageLogNotFound, ValidationFailed
from lycheemem.memory.clock import Clock, format_ts
from lycheemem.memory.models import UsageLog
from lycheemem.memory.semantic.cues import classify_feedback
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.usage import (
    apply_feedback,
    existing_item_ids,
    fetch_usage_log,
    latest_unresolved_log,
    latest_usage_log,
    session_feedback,
    set_response_excerpt,
)

__all__ = ["FEEDBACK_OUTCOMES", "FeedbackService", "FeedbackUpdate"]

FEEDBACK_OUTCOMES = {"positive": "success", "negative": "fail", "correction": "fail"}
IMPLICIT_WINDOW = timedelta(hours=24)
MAX_RECORD_IDS = 50
EXCERPT_CHARS = 500


@dataclass(slots=True)
class FeedbackUpdate:
    """One applied label."""

    usage_log_id: str | None
    feedback: str
    outcome: str
    updated_ids: list[str]

    def trace(self) -> dict[str, Any]:
        """The ``feedback_update`` trace fragment (API.md §2.7)."""
        return {
            "usage_log_id": self.usage_log_id,
            "feedback": self.feedback,
            "outcome": self.outcome,
        }


class FeedbackService:
    """Applies implicit and explicit outcome feedback to usage logs and memory counters."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def on_user_turn(
        self, *, user_id: str, session_id: str, text: str
    ) -> FeedbackUpdate | None:
        """Label the session's last unresolved action/mixed retrieval from a user turn.

        Conservative: nothing happens unless a cue matches (§13) and such a log exists.
        """
        label = classify_feedback(text)
        if label is None:
            return None
        feedback, outcome = label
        now = self._clock.now()
        since = format_ts(now - IMPLICIT_WINDOW)

        def write(conn: sqlite3.Connection) -> FeedbackUpdate | None:
            log = latest_unresolved_log(conn, user_id, session_id, since)
            if log is None:
                return None
            updated = apply_feedback(
                conn,
                user_id=user_id,
                log=log,
                feedback=feedback,
                outcome=outcome,
                source="implicit",
                record_ids=log.kept_ids,
                note=None,
                now=format_ts(now),
            )
            return FeedbackUpdate(log.log_id, feedback, outcome, updated)

        return await self._db.write(write)

    async def explicit(
        self,
        *,
        user_id: str,
        feedback: str,
        usage_log_id: str | None = None,
        session_id: str | None = None,
        record_ids: Sequence[str] | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """``POST /memory/feedback``: label a log (or bare records) and bump their counters."""
        outcome = FEEDBACK_OUTCOMES.get(feedback)
        if outcome is None:
            raise ValidationFailed("feedback must be 'positive', 'negative' or 'correction'")
        if record_ids is not None and len(record_ids) > MAX_RECORD_IDS:
            raise ValidationFailed(f"at most {MAX_RECORD_IDS} record_ids")
        if usage_log_id is None and session_id is None and not record_ids:
            raise ValidationFailed("give usage_log_id, session_id or record_ids")
        now = self._clock.now_iso()

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            log = _target_log(conn, user_id, usage_log_id, session_id)
            targets = (
                list(record_ids) if record_ids is not None else list(log.kept_ids if log else [])
            )
            if record_ids:
                missing = [
                    i for i in record_ids if i not in existing_item_ids(conn, user_id, record_ids)
                ]
                if missing:
                    raise RecordNotFound(missing[0])
            updated = apply_feedback(
                conn,
                user_id=user_id,
                log=log,
                feedback=feedback,
                outcome=outcome,
                source="explicit",
                record_ids=targets,
                note=note,
                now=now,
            )
            return {
                "status": "recorded",
                "usage_log_id": log.log_id if log else None,
                "outcome": outcome,
                "updated_ids": updated,
            }

        return await self._db.write(write)

    async def finalize_log(self, *, user_id: str, log_id: str, response: str) -> None:
        """Store the start of the answer on the usage log (off the response path)."""
        excerpt = response[:EXCERPT_CHARS]
        await self._db.write(lambda conn: set_response_excerpt(conn, user_id, log_id, excerpt))

    async def session_labels(self, *, user_id: str, session_id: str) -> dict[str, str]:
        """``{usage_log_id: feedback}`` for the labelled retrievals of the caller's session."""
        return await self._db.read(lambda conn: session_feedback(conn, user_id, session_id))

    async def get_log(self, *, user_id: str, log_id: str) -> UsageLog | None:
        """The caller's usage log, or None (tests and diagnostics)."""
        return await self._db.read(lambda conn: fetch_usage_log(conn, user_id, log_id))


def _target_log(
    conn: sqlite3.Connection, user_id: str, usage_log_id: str | None, session_id: str | None
) -> UsageLog | None:
    if usage_log_id is not None:
        log = fetch_usage_log(conn, user_id, usage_log_id)
        if log is None:
            raise UsageLogNotFound(f"Usage log {usage_log_id!r} not found")
        return log
    if session_id is not None:
        log = latest_usage_log(conn, user_id, session_id)
        if log is None:
            raise UsageLogNotFound(f"No usage log for session {session_id!r}")
        return log
    return None
