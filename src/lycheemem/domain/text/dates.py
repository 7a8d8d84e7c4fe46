"""Relative and explicit date resolution, English and Chinese (MEMORY.md §16.3).

Everything resolves against a reference datetime in a named timezone (zoneinfo). Weeks
run Monday to Sunday. A resolved expression is an inclusive range of local dates; a
single day has ``since == until``. Temporal strings use ``YYYY-MM-DD`` for a day and
``YYYY-MM-DD/YYYY-MM-DD`` (ISO-8601 interval) for a range; :func:`temporal_bounds`
parses both back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from lycheemem.domain.models import Temporal
from lycheemem.domain.text.date_rules import (
    RULES,
    STRICT_YEAR,
    DateCtx,
    month_range,
    year_range,
)

__all__ = [
    "DateSpan",
    "annotate_dates",
    "find_dates",
    "iso_utc",
    "parse_loose_datetime",
    "parse_query_window",
    "temporal_bounds",
]


@dataclass(frozen=True, slots=True)
class DateSpan:
    """One date expression found in a text and the inclusive local range it denotes."""

    start: int
    end: int
    phrase: str
    since: date
    until: date
    relative: bool

    @property
    def iso(self) -> str:
        """``YYYY-MM-DD`` for a day, ``start/end`` (ISO interval) for a range."""
        if self.since == self.until:
            return self.since.isoformat()
        return f"{self.since.isoformat()}/{self.until.isoformat()}"

    @property
    def label(self) -> str:
        """Human-readable absolute form: a day, ``YYYY-MM``, ``YYYY`` or ``a to b``."""
        s, u = self.since, self.until
        if s == u:
            return s.isoformat()
        if s.day == 1 and u == month_range(s.year, s.month)[1]:
            return f"{s.year:04d}-{s.month:02d}" if s.month == u.month else f"{s} to {u}"
        if (s.month, s.day, u.month, u.day) == (1, 1, 12, 31) and s.year == u.year:
            return f"{s.year:04d}"
        return f"{s.isoformat()} to {u.isoformat()}"


def _to_local_date(reference: datetime, timezone: str) -> date:
    if reference.tzinfo is None:
        return reference.date()
    try:
        return reference.astimezone(ZoneInfo(timezone)).date()
    except OverflowError:  # a reference at the calendar's edge stays in its own zone
        return reference.date()


def _bare_may_is_verb(m: re.Match[str], text: str) -> bool:
    """Lower-case "may" without digits is the modal verb, not the month."""
    mon = m.groupdict().get("mon")
    if not mon or mon.lower() != "may" or mon[0] == "M":
        return False
    return not (m.groupdict().get("y") or m.groupdict().get("d"))


def find_dates(
    text: str,
    reference: datetime,
    timezone: str = "UTC",
    *,
    prefer_past: bool = False,
) -> list[DateSpan]:
    """Return the date expressions of ``text`` resolved against ``reference``.

    ``reference`` is converted to ``timezone`` (a naive one is taken as already local).
    ``prefer_past`` resolves year-less months and days to the latest past occurrence
    (queries); otherwise the nearest occurrence wins (statements). A bare year counts
    only after a cue word ("in 2023", "summer 2021"): "dashboard 2016" is not a date.
    Spans never overlap and are ordered by position.
    """
    ctx = DateCtx(_to_local_date(reference, timezone), prefer_past)
    found: list[DateSpan] = []
    for pattern, handler, relative in (*RULES, (STRICT_YEAR, year_range, False)):
        for m in pattern.finditer(text):
            if _bare_may_is_verb(m, text):
                continue
            try:
                resolved = handler(m, ctx)
            except (OverflowError, ValueError):
                # "tomorrow" on 9999-12-31 or "3000 years ago": no representable date.
                continue
            if resolved is not None:
                found.append(DateSpan(m.start(), m.end(), m.group(0), *resolved, relative))
    return _non_overlapping(found)


def _non_overlapping(spans: list[DateSpan]) -> list[DateSpan]:
    spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
    kept: list[DateSpan] = []
    for span in spans:
        if not kept or span.start >= kept[-1].end:
            kept.append(span)
    return kept


def _needs_label(span: DateSpan) -> bool:
    if span.relative:
        return True
    # Explicit dates without a year ("March 14", "3月14日") get their year spelled out.
    return not re.search(r"\d{4}", span.phrase)


def annotate_dates(
    sentence: str, reference: datetime, timezone: str = "UTC"
) -> tuple[str, Temporal]:
    """Append the absolute date after each relative date phrase of ``sentence``.

    "ran a race last Saturday" -> "ran a race last Saturday (2026-03-14)". The phrase
    itself stays. ``Temporal.t_ref`` is the first expression's day or interval (None when
    the sentence has no date). Already-annotated phrases are not annotated twice.
    """
    spans = find_dates(sentence, reference, timezone)
    if not spans:
        return sentence, Temporal()
    out = sentence
    for span in reversed(spans):
        if not _needs_label(span):
            continue
        label = span.label
        tail = out[span.end :]
        if tail.lstrip().startswith(f"({label})"):
            continue
        sep = "" if re.match(r"[\u3040-\u9fff]", span.phrase[-1:]) else " "
        out = out[: span.end] + f"{sep}({label})" + tail
    return out, Temporal(t_ref=spans[0].iso)


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with milliseconds and ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_SINCE_RE = re.compile(r"\b(?:since|after)\b|自从|以来", re.IGNORECASE)


def parse_query_window(
    query: str, reference: datetime, timezone: str = "UTC"
) -> dict[str, str] | None:
    """Return ``{since, until}`` (ISO UTC, inclusive local days) for a query's dates.

    Several expressions give their union; "since X" extends the window to the reference
    day. Year-less months and days resolve to the latest past occurrence. Returns None
    when the query names no date.
    """
    spans = find_dates(query, reference, timezone, prefer_past=True)
    if not spans:
        return None
    since = min(s.since for s in spans)
    until = max(s.until for s in spans)
    first = spans[0]
    if _SINCE_RE.search(query[max(0, first.start - 12) : first.end + 4]):
        until = max(until, _to_local_date(reference, timezone))
    zone = ZoneInfo(timezone)
    start = datetime.combine(since, time.min, tzinfo=zone)
    end = datetime.combine(until, time(23, 59, 59, 999000), tzinfo=zone)
    try:
        return {"since": iso_utc(start), "until": iso_utc(end)}
    except OverflowError:  # "0001-01-01" east of UTC has no UTC day: no usable filter
        return None


_TIME_RE = re.compile(
    r"\b(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?(?::(?P<s>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)?(?!\d)",
    re.IGNORECASE,
)


def _parse_iso(text: str) -> datetime | None:
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _time_of_day(text: str) -> time:
    for m in _TIME_RE.finditer(text):
        if m["mi"] is None and m["ap"] is None:
            continue
        hour, minute, sec = int(m["h"]), int(m["mi"] or 0), int(m["s"] or 0)
        ap = (m["ap"] or "").lower().replace(".", "")
        if ap == "pm" and hour < 12:
            hour += 12
        elif ap == "am" and hour == 12:
            hour = 0
        if hour < 24 and minute < 60 and sec < 60:
            return time(hour, minute, sec)
    return time(0, 0)


def parse_loose_datetime(text: str, timezone: str = "UTC") -> datetime | None:
    """Parse ISO-8601 or human timestamps such as ``1:56 pm on 8 May, 2023``.

    Returns an aware datetime; a text without an offset is read in ``timezone``. Returns
    None when no full date (with a year) is found.
    """
    if not text or not text.strip():
        return None
    zone = ZoneInfo(timezone)
    parsed = _parse_iso(text)
    if parsed is not None:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    anchor = datetime(2000, 1, 1)
    for span in find_dates(text, anchor):
        if span.relative or span.since != span.until or not re.search(r"\d{4}", span.phrase):
            continue
        rest = text[: span.start] + " " + text[span.end :]
        return datetime.combine(span.since, _time_of_day(rest), tzinfo=zone)
    return None


def temporal_bounds(value: str | None) -> tuple[date, date] | None:
    """Parse a ``t_ref`` written by this module (day or ``a/b`` interval) into dates.

    Also accepts full ISO timestamps (their date part). Returns None when unparsable.
    """
    if not value:
        return None
    parts = value.split("/", 1)
    try:
        dates = [date.fromisoformat(p.strip()[:10]) for p in parts]
    except ValueError:
        return None
    return (dates[0], dates[-1]) if dates[0] <= dates[-1] else (dates[-1], dates[0])
