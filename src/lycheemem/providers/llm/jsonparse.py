"""Tolerant extraction of one JSON object from model output."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lycheemem.errors import LLMOutputError

__all__ = ["extract_json_object", "parse_model"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _strip_fences(text: str) -> str:
    stripped = text.strip()
    for fence in ("```json", "```JSON", "```"):
        if stripped.startswith(fence):
            stripped = stripped[len(fence) :]
            break
    if stripped.endswith("```"):
        stripped = stripped[:-3]
    return stripped.strip()


def _first_balanced_object(text: str) -> str | None:
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for position in range(start, len(text)):
            char = text[position]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : position + 1]
        start = text.find("{", start + 1)
    return None


def extract_json_object(text: str) -> dict[str, Any]:
    """Return the first JSON object in ``text``.

    Tolerates a surrounding Markdown fence, prose around the object, smart
    quotes and trailing commas. Raises ``LLMOutputError`` when no object parses.
    """
    candidate = _first_balanced_object(_strip_fences(text).translate(_SMART_QUOTES))
    if candidate is None:
        raise LLMOutputError("model output contains no JSON object")
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise LLMOutputError("model output is not valid JSON")


def parse_model(text: str, schema: type[ModelT]) -> ModelT:
    """Parse ``text`` tolerantly and validate it against ``schema``."""
    try:
        return schema.model_validate(extract_json_object(text))
    except ValidationError as exc:
        raise LLMOutputError(f"model output failed validation: {exc.error_count()} errors") from exc
