"""The feedback loop (MEMORY.md §13): implicit labels from user turns, explicit labels by API.

Every update runs in one writer transaction, after any queued usage-log
insert (the writer is a single FIFO thread), so a log returned by a search a
moment earlier is always visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lycheemem.clock import Clock, format_ts
from lycheemem.domain.models import UsageLog
from lycheemem.domain.ports import UsageStore
from lycheemem.domain.text.cues import classify_feedback
from lycheemem.errors import ValidationFailed

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

    def __init__(self, *, usage: UsageStore, clock: Clock) -> None:
        self._usage = usage
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
        done = await self._usage.label_latest_unresolved(
            user_id,
            session_id,
            since=format_ts(now - IMPLICIT_WINDOW),
            feedback=feedback,
            outcome=outcome,
            now=format_ts(now),
        )
        if done is None:
            return None
        log_id, updated = done
        return FeedbackUpdate(log_id, feedback, outcome, updated)

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
        log_id, updated = await self._usage.label_explicit(
            user_id,
            usage_log_id=usage_log_id,
            session_id=session_id,
            record_ids=record_ids,
            feedback=feedback,
            outcome=outcome,
            note=note,
            now=self._clock.now_iso(),
        )
        return {
            "status": "recorded",
            "usage_log_id": log_id,
            "outcome": outcome,
            "updated_ids": updated,
        }

    async def finalize_log(self, *, user_id: str, log_id: str, response: str) -> None:
        """Store the start of the answer on the usage log (off the response path)."""
        await self._usage.set_response_excerpt(user_id, log_id, response[:EXCERPT_CHARS])

    async def session_labels(self, *, user_id: str, session_id: str) -> dict[str, str]:
        """``{usage_log_id: feedback}`` for the labelled retrievals of the caller's session."""
        return await self._usage.session_feedback(user_id, session_id)

    async def get_log(self, *, user_id: str, log_id: str) -> UsageLog | None:
        """The caller's usage log, or None (tests and diagnostics)."""
        return await self._usage.get(user_id, log_id)
