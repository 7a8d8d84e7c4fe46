"""Time in one format everywhere: ISO-8601 UTC with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["Clock", "format_ts", "parse_ts"]


def format_ts(moment: datetime) -> str:
    """Format ``moment`` as ``2026-03-14T09:30:00.123Z`` (naive values are read as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Parse an ISO-8601 timestamp; a value without an offset is read as UTC.

    Raises ``ValueError`` for anything that is not ISO-8601 or cannot be shifted to UTC
    (an offset at the calendar's edge).
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp {value!r} is outside the calendar in UTC") from exc


class Clock:
    """The source of "now"; tests substitute a fixed or advancing clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def now_iso(self) -> str:
        """The current UTC time in the storage format."""
        return format_ts(self.now())
