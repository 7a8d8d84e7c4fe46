"""Date arithmetic at the calendar's edges yields no date instead of raising."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lycheemem.clock import parse_ts
from lycheemem.domain.text.dates import annotate_dates, find_dates, parse_query_window
from lycheemem.domain.text.limits import check_json_value, supported_utc

LAST_DAY = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
FIRST_DAY = datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["Tomorrow I will fly to Rome", "next year", "in 3 weeks"])
def test_relative_dates_after_the_last_day_resolve_to_nothing(text: str) -> None:
    assert find_dates(text, LAST_DAY, "Pacific/Kiritimati") == []
    assert annotate_dates(text, LAST_DAY)[0] == text


@pytest.mark.parametrize("text", ["yesterday", "last week", "5 years ago"])
def test_relative_dates_before_the_first_day_resolve_to_nothing(text: str) -> None:
    assert find_dates(text, FIRST_DAY, "UTC") == []
    assert parse_query_window(f"what happened {text}", FIRST_DAY, "UTC") is None


def test_parse_ts_turns_an_unshiftable_offset_into_value_error() -> None:
    with pytest.raises(ValueError, match="outside the calendar"):
        parse_ts("0001-01-01T00:00:00+14:00")


@pytest.mark.parametrize(
    "moment", [datetime(999, 12, 31, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)]
)
def test_supported_range_is_enforced(moment: datetime) -> None:
    with pytest.raises(ValueError, match="1000-01-01"):
        supported_utc(moment)


def test_json_values_must_be_finite_and_shallow() -> None:
    assert check_json_value({"a": [1, 2.5, {"b": None}]}) == {"a": [1, 2.5, {"b": None}]}
    with pytest.raises(ValueError, match="NaN"):
        check_json_value({"a": [float("inf")]})
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValueError, match="nested deeper"):
        check_json_value(deep)
