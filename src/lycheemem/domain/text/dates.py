"""Relative and explicit date resolution, English and Chinese (MEMORY.md §16.3).

Everything resolves against a reference datetime in a named timezone (zoneinfo). Weeks
run Monday to Sunday. A resolved expression is an inclusive range of local dates; a
single day has ``since == until``. Temporal strings use ``YYYY-MM-DD`` for a day and
``YYYY-MM-DD/YYYY-MM-DD`` (ISO-8601 interval) for a range; :func:`temporal_bounds`
parses both back.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lycheemem.domain.models import Temporal

__all__ = [
    "DateSpan",
    "annotate_dates",
    "find_dates",
    "iso_utc",
    "parse_loose_datetime",
    "parse_query_window",
    "temporal_bounds",
]

Range = tuple[date, date]


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
        if s.day == 1 and u == _month_range(s.year, s.month)[1]:
            return f"{s.year:04d}-{s.month:02d}" if s.month == u.month else f"{s} to {u}"
        if (s.month, s.day, u.month, u.day) == (1, 1, 12, 31) and s.year == u.year:
            return f"{s.year:04d}"
        return f"{s.isoformat()} to {u.isoformat()}"


@dataclass(frozen=True, slots=True)
class _Ctx:
    today: date
    prefer_past: bool


_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_FULL_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
_ANY_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS = {
    d: i
    for i, d in enumerate(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    )
}
_WEEKDAY_RE = "|".join(_WEEKDAYS)
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_NUM_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "a couple of": 2, "couple of": 2, "a couple": 2,
}  # fmt: skip
_NUM_RE = r"\d{1,3}|a couple of|couple of|a couple|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"  # noqa: E501
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}  # fmt: skip
_ZH_NUM_RE = r"\d{1,3}|[零一二两三四五六七八九十]{1,3}"
_ORD = r"(?:st|nd|rd|th)?"


def _month_range(year: int, month: int) -> Range:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _week_range(day: date) -> Range:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def _add_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + (day.month - 1) + months
    return index // 12, index % 12 + 1


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest_year(ctx: _Ctx, month: int, day: int | None) -> int:
    """Pick the year for a month (and day) given without one."""
    today = ctx.today
    if ctx.prefer_past:
        later = (month, day or 1) > (today.month, today.day if day else 1)
        return today.year - 1 if later else today.year

    def distance(year: int) -> int:
        anchor = _safe_date(year, month, day or 15) or date(year, month, 1)
        return abs((anchor - today).days)

    return min((today.year - 1, today.year, today.year + 1), key=distance)


def _parse_num(text: str) -> int | None:
    t = text.lower().strip()
    if t.isdigit():
        return int(t)
    if t in _NUM_WORDS:
        return _NUM_WORDS[t]
    return _zh_num(t)


def _zh_num(t: str) -> int | None:
    if not t or any(ch not in _ZH_DIGITS and ch != "十" for ch in t):
        return None
    if "十" not in t:
        return _ZH_DIGITS[t] if len(t) == 1 else None
    tens, _, ones = t.partition("十")
    value = (_ZH_DIGITS.get(tens, 0) if tens else 1) * 10
    return value + (_ZH_DIGITS.get(ones, 0) if ones else 0)


# --- handlers: each returns an inclusive range or None -------------------------------


def _explicit_ymd(m: re.Match[str], ctx: _Ctx) -> Range | None:
    d = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    return (d, d) if d else None


def _named_dmy(m: re.Match[str], ctx: _Ctx) -> Range | None:
    month = _MONTHS[m["mon"].lower().rstrip(".")]
    day = int(m["d"])
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, day)
    d = _safe_date(year, month, day)
    return (d, d) if d else None


def _named_month(m: re.Match[str], ctx: _Ctx) -> Range | None:
    month = _MONTHS[m["mon"].lower().rstrip(".")]
    groups = m.groupdict()
    if groups.get("y"):
        return _month_range(int(groups["y"]), month)
    which = (groups.get("which") or "").lower()
    today = ctx.today
    if which in ("last", "past", "previous"):
        year = today.year if month < today.month else today.year - 1
    elif which in ("next", "coming"):
        year = today.year if month > today.month else today.year + 1
    elif which == "this":
        year = today.year
    else:
        year = _nearest_year(ctx, month, None)
    return _month_range(year, month)


def _year(m: re.Match[str], ctx: _Ctx) -> Range | None:
    year = int(m["y"])
    return date(year, 1, 1), date(year, 12, 31)


def _offset_day(days: int) -> Callable[[re.Match[str], _Ctx], Range | None]:
    def handler(m: re.Match[str], ctx: _Ctx) -> Range | None:
        d = ctx.today + timedelta(days=days)
        return d, d

    return handler


_UNIT_OFFSET = {"last": -1, "past": -1, "previous": -1, "this": 0, "next": 1, "coming": 1}


def _relative_unit(unit: str, shift: int, ctx: _Ctx) -> Range:
    today = ctx.today
    if unit == "week":
        return _week_range(today + timedelta(weeks=shift))
    if unit == "weekend":
        monday = _week_range(today + timedelta(weeks=shift))[0]
        return monday + timedelta(days=5), monday + timedelta(days=6)
    if unit == "month":
        return _month_range(*_add_months(today, shift))
    year = today.year + shift
    return date(year, 1, 1), date(year, 12, 31)


def _this_last_next(m: re.Match[str], ctx: _Ctx) -> Range | None:
    which = m["which"].lower()
    unit = m["unit"].lower()
    if which == "past" and unit in ("week", "month", "year"):
        span = {"week": 7, "month": 30, "year": 365}[unit]
        return ctx.today - timedelta(days=span), ctx.today
    return _relative_unit(unit, _UNIT_OFFSET[which], ctx)


def _ago_range(n: int, unit: str, today: date) -> Range:
    if unit.startswith("day"):
        d = today - timedelta(days=n)
        return d, d
    if unit.startswith("week"):
        return _week_range(today - timedelta(weeks=n))
    if unit.startswith("month"):
        return _month_range(*_add_months(today, -n))
    return date(today.year - n, 1, 1), date(today.year - n, 12, 31)


def _ago(m: re.Match[str], ctx: _Ctx) -> Range | None:
    n = _parse_num(m["n"])
    return None if n is None else _ago_range(n, m["unit"].lower(), ctx.today)


def _weekday_rel(which: str, weekday: int, ctx: _Ctx) -> Range:
    today = ctx.today
    if which in ("last", "past", "previous"):
        delta = (today.weekday() - weekday) % 7 or 7
        d = today - timedelta(days=delta)
    elif which in ("next", "coming"):
        delta = (weekday - today.weekday()) % 7 or 7
        d = today + timedelta(days=delta)
    else:
        d = _week_range(today)[0] + timedelta(days=weekday)
    return d, d


def _en_weekday(m: re.Match[str], ctx: _Ctx) -> Range | None:
    return _weekday_rel(m["which"].lower(), _WEEKDAYS[m["wd"].lower()], ctx)


_ZH_SHIFT = {"上": -1, "这": 0, "本": 0, "今": 0, "下": 1}


def _zh_week(m: re.Match[str], ctx: _Ctx) -> Range | None:
    monday = _week_range(ctx.today + timedelta(weeks=_ZH_SHIFT[m["which"]]))[0]
    if m["wd"]:
        d = monday + timedelta(days=_ZH_WEEKDAYS[m["wd"]])
        return d, d
    return monday, monday + timedelta(days=6)


def _zh_month(m: re.Match[str], ctx: _Ctx) -> Range | None:
    return _month_range(*_add_months(ctx.today, _ZH_SHIFT[m["which"]]))


_ZH_YEARS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}


def _zh_year(m: re.Match[str], ctx: _Ctx) -> Range | None:
    year = ctx.today.year + _ZH_YEARS[m.group(0)]
    return date(year, 1, 1), date(year, 12, 31)


_ZH_UNITS = {"天": "days", "日": "days", "周": "weeks", "星期": "weeks", "礼拜": "weeks",
             "月": "months", "年": "years"}  # fmt: skip


def _zh_ago(m: re.Match[str], ctx: _Ctx) -> Range | None:
    n = _parse_num(m["n"])
    return None if n is None else _ago_range(n, _ZH_UNITS[m["unit"]], ctx.today)


def _zh_month_only(m: re.Match[str], ctx: _Ctx) -> Range | None:
    month = _parse_num(m["m"])
    if month is None or not 1 <= month <= 12:
        return None
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, None)
    return _month_range(year, month)


def _zh_md(m: re.Match[str], ctx: _Ctx) -> Range | None:
    month, day = int(m["m"]), int(m["d"])
    if not 1 <= month <= 12:
        return None
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, day)
    d = _safe_date(year, month, day)
    return (d, d) if d else None


Handler = Callable[[re.Match[str], _Ctx], Range | None]
_I = re.IGNORECASE
# (pattern, handler, relative). Overlaps resolve to the earliest, then longest, match.
_RULES: tuple[tuple[re.Pattern[str], Handler, bool], ...] = (
    (re.compile(r"(?<!\d)(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
     _explicit_ymd, False),
    (re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<mon>{_ANY_MONTH})\.?"
                rf"(?:,?\s+(?P<y>\d{{4}}))?\b", _I), _named_dmy, False),
    (re.compile(rf"\b(?P<mon>{_ANY_MONTH})\.?\s+(?P<d>\d{{1,2}}){_ORD}"
                rf"(?:,?\s+(?P<y>\d{{4}}))?\b(?!:)", _I), _named_dmy, False),
    (re.compile(rf"\b(?P<mon>{_ANY_MONTH})\.?,?\s+(?P<y>\d{{4}})\b", _I), _named_month, False),
    (re.compile(rf"\b(?:(?P<which>last|past|previous|this|next|coming)|in|during|since|"
                rf"until|by|early|late|mid|of)\s+(?P<mon>{_FULL_MONTHS})\b(?!\.?,?\s*\d)", _I),
     _named_month, True),
    (re.compile(r"\bthe\s+day\s+before\s+yesterday\b", _I), _offset_day(-2), True),
    (re.compile(r"\bthe\s+day\s+after\s+tomorrow\b", _I), _offset_day(2), True),
    (re.compile(r"\b(?:yesterday|last\s+night)\b", _I), _offset_day(-1), True),
    (re.compile(r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening))\b", _I),
     _offset_day(0), True),
    (re.compile(r"\btomorrow\b", _I), _offset_day(1), True),
    (re.compile(r"\b(?P<which>this|last|next|past|previous|coming)\s+"
                r"(?P<unit>week|weekend|month|year)\b", _I), _this_last_next, True),
    (re.compile(rf"\b(?P<n>{_NUM_RE})\s+(?P<unit>days?|weeks?|months?|years?)\s+ago\b", _I),
     _ago, True),
    (re.compile(rf"\b(?P<which>this|last|next|past|previous|coming)\s+(?P<wd>{_WEEKDAY_RE})\b",
                _I), _en_weekday, True),
    (re.compile(r"(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]"), _zh_md, False),
    (re.compile(r"(?:(?P<y>\d{4})年)(?P<m>\d{1,2})月(?!\d)"), _zh_month_only, False),
    (re.compile(r"(?<!\d)(?P<y>\d{4})年(?!\d|前)"), _year, False),
    (re.compile(r"大前天"), _offset_day(-3), True),
    (re.compile(r"前天"), _offset_day(-2), True),
    (re.compile(r"昨天|昨日|昨晚"), _offset_day(-1), True),
    (re.compile(r"今天|今日|今晚"), _offset_day(0), True),
    (re.compile(r"明天|明日"), _offset_day(1), True),
    (re.compile(r"大后天"), _offset_day(3), True),
    (re.compile(r"后天"), _offset_day(2), True),
    (re.compile(r"(?P<which>[上这本下])个?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天])?"),
     _zh_week, True),
    (re.compile(r"(?P<which>[上这本下])个?月"), _zh_month, True),
    (re.compile(r"前年|去年|今年|明年"), _zh_year, True),
    (re.compile(rf"(?P<n>{_ZH_NUM_RE})\s*个?(?P<unit>天|日|周|星期|礼拜|月|年)(?:以)?前"),
     _zh_ago, True),
    (re.compile(r"(?<![\d年])(?P<y>)(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})月份?(?![\d日号])"),
     _zh_month_only, True),
)  # fmt: skip

_STRICT_YEAR = re.compile(
    r"\b(?:in|since|during|of|by|until|before|after|from|around|year|summer|winter|spring|"
    r"autumn|fall|early|late|mid)\s+(?P<y>(?:19|20)\d{2})\b(?!\s*[-:/.]\d)",
    _I,
)


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
    ctx = _Ctx(_to_local_date(reference, timezone), prefer_past)
    found: list[DateSpan] = []
    for pattern, handler, relative in (*_RULES, (_STRICT_YEAR, _year, False)):
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
