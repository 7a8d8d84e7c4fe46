"""The date-expression rules behind :func:`lycheemem.domain.text.dates.find_dates`.

Each rule is a pattern, a handler that turns its match into an inclusive range of local
dates (or None), and whether the expression is relative. Month and weekday names, number
words and their Chinese forms live here too.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["RULES", "STRICT_YEAR", "DateCtx", "Handler", "Range", "month_range", "year_range"]

Range = tuple[date, date]


@dataclass(frozen=True, slots=True)
class DateCtx:
    """What every rule resolves against: the local day and whether to prefer the past."""

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


def month_range(year: int, month: int) -> Range:
    """The first and last day of a month."""
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


def _nearest_year(ctx: DateCtx, month: int, day: int | None) -> int:
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


def _explicit_ymd(m: re.Match[str], ctx: DateCtx) -> Range | None:
    d = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    return (d, d) if d else None


def _named_dmy(m: re.Match[str], ctx: DateCtx) -> Range | None:
    month = _MONTHS[m["mon"].lower().rstrip(".")]
    day = int(m["d"])
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, day)
    d = _safe_date(year, month, day)
    return (d, d) if d else None


def _named_month(m: re.Match[str], ctx: DateCtx) -> Range | None:
    month = _MONTHS[m["mon"].lower().rstrip(".")]
    groups = m.groupdict()
    if groups.get("y"):
        return month_range(int(groups["y"]), month)
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
    return month_range(year, month)


def year_range(m: re.Match[str], ctx: DateCtx) -> Range | None:
    """Handler of a bare year (group ``y``): the whole year."""
    year = int(m["y"])
    return date(year, 1, 1), date(year, 12, 31)


def _offset_day(days: int) -> Callable[[re.Match[str], DateCtx], Range | None]:
    def handler(m: re.Match[str], ctx: DateCtx) -> Range | None:
        d = ctx.today + timedelta(days=days)
        return d, d

    return handler


_UNIT_OFFSET = {"last": -1, "past": -1, "previous": -1, "this": 0, "next": 1, "coming": 1}


def _relative_unit(unit: str, shift: int, ctx: DateCtx) -> Range:
    today = ctx.today
    if unit == "week":
        return _week_range(today + timedelta(weeks=shift))
    if unit == "weekend":
        monday = _week_range(today + timedelta(weeks=shift))[0]
        return monday + timedelta(days=5), monday + timedelta(days=6)
    if unit == "month":
        return month_range(*_add_months(today, shift))
    year = today.year + shift
    return date(year, 1, 1), date(year, 12, 31)


def _this_last_next(m: re.Match[str], ctx: DateCtx) -> Range | None:
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
        return month_range(*_add_months(today, -n))
    return date(today.year - n, 1, 1), date(today.year - n, 12, 31)


def _ago(m: re.Match[str], ctx: DateCtx) -> Range | None:
    n = _parse_num(m["n"])
    return None if n is None else _ago_range(n, m["unit"].lower(), ctx.today)


def _weekday_rel(which: str, weekday: int, ctx: DateCtx) -> Range:
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


def _en_weekday(m: re.Match[str], ctx: DateCtx) -> Range | None:
    return _weekday_rel(m["which"].lower(), _WEEKDAYS[m["wd"].lower()], ctx)


_ZH_SHIFT = {"上": -1, "这": 0, "本": 0, "今": 0, "下": 1}


def _zh_week(m: re.Match[str], ctx: DateCtx) -> Range | None:
    monday = _week_range(ctx.today + timedelta(weeks=_ZH_SHIFT[m["which"]]))[0]
    if m["wd"]:
        d = monday + timedelta(days=_ZH_WEEKDAYS[m["wd"]])
        return d, d
    return monday, monday + timedelta(days=6)


def _zh_month(m: re.Match[str], ctx: DateCtx) -> Range | None:
    return month_range(*_add_months(ctx.today, _ZH_SHIFT[m["which"]]))


_ZH_YEARS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}


def _zh_year(m: re.Match[str], ctx: DateCtx) -> Range | None:
    year = ctx.today.year + _ZH_YEARS[m.group(0)]
    return date(year, 1, 1), date(year, 12, 31)


_ZH_UNITS = {"天": "days", "日": "days", "周": "weeks", "星期": "weeks", "礼拜": "weeks",
             "月": "months", "年": "years"}  # fmt: skip


def _zh_ago(m: re.Match[str], ctx: DateCtx) -> Range | None:
    n = _parse_num(m["n"])
    return None if n is None else _ago_range(n, _ZH_UNITS[m["unit"]], ctx.today)


def _zh_month_only(m: re.Match[str], ctx: DateCtx) -> Range | None:
    month = _parse_num(m["m"])
    if month is None or not 1 <= month <= 12:
        return None
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, None)
    return month_range(year, month)


def _zh_md(m: re.Match[str], ctx: DateCtx) -> Range | None:
    month, day = int(m["m"]), int(m["d"])
    if not 1 <= month <= 12:
        return None
    year = int(m["y"]) if m["y"] else _nearest_year(ctx, month, day)
    d = _safe_date(year, month, day)
    return (d, d) if d else None


Handler = Callable[[re.Match[str], DateCtx], Range | None]
_I = re.IGNORECASE
# (pattern, handler, relative). Overlaps resolve to the earliest, then longest, match.
RULES: tuple[tuple[re.Pattern[str], Handler, bool], ...] = (
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
    (re.compile(r"(?<!\d)(?P<y>\d{4})年(?!\d|前)"), year_range, False),
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

STRICT_YEAR = re.compile(
    r"\b(?:in|since|during|of|by|until|before|after|from|around|year|summer|winter|spring|"
    r"autumn|fall|early|late|mid)\s+(?P<y>(?:19|20)\d{2})\b(?!\s*[-:/.]\d)",
    _I,
)
