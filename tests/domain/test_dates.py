"""Tests for relative/explicit date resolution (EN + ZH) with a fixed reference clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from lycheemem.domain.text.dates import (
    annotate_dates,
    find_dates,
    iso_utc,
    parse_loose_datetime,
    parse_query_window,
    temporal_bounds,
)

# Monday 16 March 2026, 10:00 UTC.
REF = datetime(2026, 3, 16, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("I did it today", "2026-03-16"),
        ("I went yesterday", "2026-03-15"),
        ("see you tomorrow", "2026-03-17"),
        ("the day before yesterday", "2026-03-14"),
        ("the day after tomorrow", "2026-03-18"),
        ("last night was fun", "2026-03-15"),
        ("this week", "2026-03-16/2026-03-22"),
        ("last week", "2026-03-09/2026-03-15"),
        ("next week", "2026-03-23/2026-03-29"),
        ("this month", "2026-03-01/2026-03-31"),
        ("last month", "2026-02-01/2026-02-28"),
        ("next month", "2026-04-01/2026-04-30"),
        ("last year", "2025-01-01/2025-12-31"),
        ("3 days ago", "2026-03-13"),
        ("two weeks ago", "2026-03-02/2026-03-08"),
        ("a month ago", "2026-02-01/2026-02-28"),
        ("last Saturday", "2026-03-14"),
        ("last Monday", "2026-03-09"),
        ("this Friday", "2026-03-20"),
        ("next Wednesday", "2026-03-18"),
        ("this weekend", "2026-03-21/2026-03-22"),
        ("last weekend", "2026-03-14/2026-03-15"),
        ("going in June", "2026-06-01/2026-06-30"),
        ("2026-03-14", "2026-03-14"),
        ("March 14", "2026-03-14"),
        ("on 8 May, 2023", "2023-05-08"),
        ("May 8th, 2023", "2023-05-08"),
        ("in May 2023", "2023-05-01/2023-05-31"),
        ("moved in 2019", "2019-01-01/2019-12-31"),
        ("今天", "2026-03-16"),
        ("昨天", "2026-03-15"),
        ("前天", "2026-03-14"),
        ("明天", "2026-03-17"),
        ("后天", "2026-03-18"),
        ("上周六", "2026-03-14"),
        ("这周五", "2026-03-20"),
        ("下周一", "2026-03-23"),
        ("上周", "2026-03-09/2026-03-15"),
        ("上个月", "2026-02-01/2026-02-28"),
        ("去年", "2025-01-01/2025-12-31"),
        ("3天前", "2026-03-13"),
        ("五天前", "2026-03-11"),
        ("3月14日", "2026-03-14"),
        ("2025年5月", "2025-05-01/2025-05-31"),
        ("2024年12月25日", "2024-12-25"),
    ],
)
def test_resolution_table(text: str, iso: str) -> None:
    spans = find_dates(text, REF)
    assert len(spans) == 1, spans
    assert spans[0].iso == iso


@pytest.mark.parametrize(
    "text",
    [
        "I may go",
        "version 2.10.3 released",
        "I have 2000 followers",
        "When did Caroline go to the support group?",
        "How long ago was her birthday?",
        "We should march on",
    ],
)
def test_no_false_dates(text: str) -> None:
    assert find_dates(text, REF) == []


def test_reference_is_converted_to_timezone() -> None:
    late_utc = datetime(2026, 3, 16, 23, 30, tzinfo=UTC)
    assert find_dates("today", late_utc, "Asia/Shanghai")[0].iso == "2026-03-17"
    assert find_dates("today", late_utc, "UTC")[0].iso == "2026-03-16"


def test_year_less_dates_nearest_vs_past() -> None:
    assert find_dates("in December", REF)[0].iso.startswith("2025-12")
    assert find_dates("in June", REF, prefer_past=True)[0].iso.startswith("2025-06")
    assert find_dates("in June", REF)[0].iso.startswith("2026-06")


def test_annotate_appends_absolute_date_and_sets_t_ref() -> None:
    text, temporal = annotate_dates("I ran a half marathon last Saturday.", REF)
    assert text == "I ran a half marathon last Saturday (2026-03-14)."
    assert temporal.t_ref == "2026-03-14"


def test_annotate_ranges_and_chinese() -> None:
    text, temporal = annotate_dates("I was busy last week", REF)
    assert text == "I was busy last week (2026-03-09 to 2026-03-15)"
    assert temporal.t_ref == "2026-03-09/2026-03-15"
    zh, zh_temporal = annotate_dates("我昨天去了北京", REF)
    assert zh == "我昨天(2026-03-15)去了北京"
    assert zh_temporal.t_ref == "2026-03-15"


def test_annotate_leaves_explicit_dates_and_is_idempotent() -> None:
    text, temporal = annotate_dates("Released on 2026-03-01.", REF)
    assert text == "Released on 2026-03-01."
    assert temporal.t_ref == "2026-03-01"
    once, _ = annotate_dates("We met yesterday", REF)
    twice, _ = annotate_dates(once, REF)
    assert once == twice == "We met yesterday (2026-03-15)"


def test_annotate_without_dates() -> None:
    text, temporal = annotate_dates("Alice likes tea", REF)
    assert text == "Alice likes tea" and temporal.t_ref is None


@pytest.mark.parametrize(
    ("query", "since", "until"),
    [
        ("what did I do last week", "2026-03-09", "2026-03-15"),
        ("what happened in May", "2025-05-01", "2025-05-31"),
        ("yesterday", "2026-03-15", "2026-03-15"),
        ("anything from 2023", "2023-01-01", "2023-12-31"),
        ("What state did Joanna visit in summer 2021?", "2021-01-01", "2021-12-31"),
        ("May 2023 trips", "2023-05-01", "2023-05-31"),
        ("上周做了什么", "2026-03-09", "2026-03-15"),
        ("since 2024", "2024-01-01", "2026-03-16"),
        ("between last month and yesterday", "2026-02-01", "2026-03-15"),
    ],
)
def test_query_windows(query: str, since: str, until: str) -> None:
    window = parse_query_window(query, REF)
    assert window is not None
    assert window["since"] == f"{since}T00:00:00.000Z"
    assert window["until"] == f"{until}T23:59:59.999Z"


def test_query_window_none_without_dates() -> None:
    assert parse_query_window("When did Caroline go to the support group?", REF) is None
    assert parse_query_window("what is my favourite colour", REF) is None
    # A number after a noun is an identifier, not a year.
    assert parse_query_window("which tool exports metrics for dashboard 2016?", REF) is None
    assert parse_query_window("status of ticket 1999", REF) is None


def test_query_window_uses_local_day_bounds() -> None:
    window = parse_query_window("yesterday", REF, "Asia/Shanghai")
    assert window == {"since": "2026-03-14T16:00:00.000Z", "until": "2026-03-15T15:59:59.999Z"}


def test_parse_loose_datetime_locomo_and_iso() -> None:
    assert parse_loose_datetime("1:56 pm on 8 May, 2023") == datetime(
        2023, 5, 8, 13, 56, tzinfo=UTC
    )
    assert parse_loose_datetime("12:09 am on 13 September, 2023") == datetime(
        2023, 9, 13, 0, 9, tzinfo=UTC
    )
    assert parse_loose_datetime("2023-05-08T13:56:00.000Z") == datetime(
        2023, 5, 8, 13, 56, tzinfo=UTC
    )
    shanghai = parse_loose_datetime("10:37 am on 27 June, 2023", "Asia/Shanghai")
    assert shanghai is not None and shanghai.utcoffset() == timedelta(hours=8)
    offset = parse_loose_datetime("2023-05-08T13:56:00+02:00")
    assert offset is not None and offset.tzinfo == timezone(timedelta(hours=2))
    assert parse_loose_datetime("May 8, 2023") == datetime(2023, 5, 8, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "hello", "yesterday", "8 May", "25:99"])
def test_parse_loose_datetime_rejects(text: str) -> None:
    assert parse_loose_datetime(text) is None


def test_iso_utc_and_temporal_bounds() -> None:
    assert (
        iso_utc(datetime(2026, 3, 16, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-03-16T10:00:00.123Z"
    )
    assert temporal_bounds("2026-03-14") == (date(2026, 3, 14), date(2026, 3, 14))
    assert temporal_bounds("2026-03-09/2026-03-15") == (date(2026, 3, 9), date(2026, 3, 15))
    assert temporal_bounds("2026-03-14T10:00:00.000Z") == (date(2026, 3, 14), date(2026, 3, 14))
    assert temporal_bounds("garbage") is None
    assert temporal_bounds(None) is None
