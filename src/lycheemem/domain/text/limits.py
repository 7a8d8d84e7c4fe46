"""What the server accepts from clients: the supported timestamp range and JSON shapes.

Checked at the edges (REST bodies and queries, MCP arguments, import lines, tokens), so
storage, date arithmetic and exports never see a value they cannot represent.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_COUNTER",
    "MAX_INDEX",
    "MAX_JSON_DEPTH",
    "MAX_OFFSET",
    "MAX_SUPPORTED_TS",
    "MIN_SUPPORTED_TS",
    "check_json_value",
    "supported_utc",
]

# Four-digit years keep stored timestamps sortable as text; the margin of a millennium
# on either side leaves room for "in 50 years" style arithmetic without overflow.
MIN_SUPPORTED_TS = datetime(1000, 1, 1, tzinfo=UTC)
MAX_SUPPORTED_TS = datetime(9000, 1, 1, tzinfo=UTC)
# Pagination offsets, turn/boundary indexes and counters stay far below SQLite's 2^63.
MAX_OFFSET = 2**31 - 1
MAX_INDEX = 10_000_000
MAX_COUNTER = 2**31 - 1
MAX_JSON_DEPTH = 32

_RANGE_TEXT = "1000-01-01T00:00:00Z (inclusive) and 9000-01-01T00:00:00Z (exclusive)"


def supported_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive is read as UTC); ``ValueError`` outside the supported range."""
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"timestamp must lie between {_RANGE_TEXT}") from exc
    if not MIN_SUPPORTED_TS <= utc < MAX_SUPPORTED_TS:
        raise ValueError(f"timestamp must lie between {_RANGE_TEXT}")
    return utc


def check_json_value(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Return ``value`` unchanged; ``ValueError`` when it nests deeper than ``max_depth``
    or holds a NaN or infinite number (not valid JSON, so it could never be exported)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("NaN and Infinity are not valid JSON numbers")
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise ValueError(f"JSON is nested deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value
