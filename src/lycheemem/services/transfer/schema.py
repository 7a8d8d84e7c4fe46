"""The export format: line models, the import report and the parsing of a JSONL body.

Each line of an import is validated on its own by the pydantic model of its ``type``;
``parse_body`` splits and decodes the body, checks the header and groups the lines by type.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lycheemem.clock import format_ts, parse_ts
from lycheemem.domain.models import (
    MAX_SOURCES,
    RECORD_TYPES,
    CompositeRecord,
    MemoryRecord,
    Skill,
    SourceRef,
    Temporal,
    union_sources,
)
from lycheemem.domain.text.limits import MAX_COUNTER, MAX_INDEX, check_json_value, supported_utc
from lycheemem.domain.text.terms import canon, record_id_for
from lycheemem.errors import BadRequest

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "SAFE_ID",
    "CompositeLine",
    "ImportReport",
    "ImportState",
    "Line",
    "Lines",
    "ParsedImport",
    "RecordLine",
    "SessionLine",
    "SkillLine",
    "SummaryLine",
    "TurnLine",
    "UsageLogLine",
    "describe",
    "jsonl_line",
    "merge_imported_record",
    "parse_body",
]

EXPORT_FORMAT = "lycheemem.export"
EXPORT_VERSION = 1
MAX_LINE_BYTES = 1024 * 1024
MAX_ERRORS = 100
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SESSION_ID = r"^[^\s/\\?#%\x00-\x1f\x7f]{1,128}$"
Lines = list[tuple[int, dict[str, Any]]]
"""Parsed JSONL lines of one section with their 1-based line numbers."""
SECTIONS = ("record", "composite", "skill", "session", "turn", "summary", "usage_log")
_SHARED_FIELDS = (
    "memory_type",
    "semantic_text",
    "entities",
    "task_tags",
    "tool_tags",
    "constraint_tags",
    "failure_tags",
    "affordance_tags",
    "confidence",
    "retrieval_count",
    "retrieval_hit_count",
    "action_success_count",
    "action_fail_count",
    "last_retrieved_at",
    "expired",
    "expired_at",
    "expired_reason",
)
_COUNTED = ("records", "composites", "skills", "sessions", "turns", "summaries", "usage_logs")


# -- line models ---------------------------------------------------------------


def _canonical_ts(value: str | None) -> str | None:
    return None if value is None else format_ts(supported_utc(parse_ts(value)))


Timestamp = Annotated[str | None, AfterValidator(_canonical_ts)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNTER)]
Index = Annotated[int, Field(ge=0, le=MAX_INDEX)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_value)]


class Line(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _SourceLine(Line):
    session_id: str
    turn_ids: list[int] = []
    turn_refs: list[str] = []


class _TemporalLine(Line):
    t_ref: str | None = None
    t_valid_from: str | None = None
    t_valid_to: str | None = None


class _ItemLine(Line):
    memory_type: str
    semantic_text: str = Field(min_length=1)
    normalized_text: str = ""
    entities: list[str] = []
    temporal: _TemporalLine = _TemporalLine()
    task_tags: list[str] = []
    tool_tags: list[str] = []
    constraint_tags: list[str] = []
    failure_tags: list[str] = []
    affordance_tags: list[str] = []
    confidence: float = Field(0.7, ge=0, le=1)
    sources: list[_SourceLine] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None
    retrieval_count: Count = 0
    retrieval_hit_count: Count = 0
    action_success_count: Count = 0
    action_fail_count: Count = 0
    last_retrieved_at: Timestamp = None
    expired: bool = False
    expired_at: Timestamp = None
    expired_reason: str | None = None

    def shared(self, now: str) -> dict[str, Any]:
        """Constructor arguments common to records and composites."""
        fields = self.model_dump(include=set(_SHARED_FIELDS))
        fields["normalized_text"] = canon(self.normalized_text or self.semantic_text)
        fields["temporal"] = Temporal(**self.temporal.model_dump())
        fields["sources"] = [SourceRef(**s.model_dump()) for s in self.sources][:MAX_SOURCES]
        fields["created_at"] = self.created_at or now
        fields["updated_at"] = self.updated_at or fields["created_at"]
        return fields


class RecordLine(_ItemLine):
    record_id: str = ""
    source_role: Literal["user", "assistant", "both"] = "user"
    source_session_id: str | None = None
    source_turn_ids: list[int] = []
    source_turn_refs: list[str] = []
    version: int = Field(1, ge=1, le=MAX_COUNTER)
    history: list[JsonObject] = []
    superseded_by: str | None = None

    def to_record(self, user_id: str, now: str) -> MemoryRecord:
        """The record in ``user_id``'s namespace, id recomputed (``superseded_by`` unmapped)."""
        if self.memory_type not in RECORD_TYPES:
            raise ValueError(f"unknown record memory_type {self.memory_type!r}")
        shared = self.shared(now)
        return MemoryRecord(
            record_id=record_id_for(user_id, shared["normalized_text"]),
            user_id=user_id,
            source_role=self.source_role,
            source_session_id=self.source_session_id,
            source_turn_ids=list(self.source_turn_ids),
            source_turn_refs=list(self.source_turn_refs),
            version=self.version,
            history=list(self.history[:5]),
            **shared,
        )


class CompositeLine(_ItemLine):
    composite_id: str = ""
    record_id: str = ""
    source_record_ids: list[str] = []
    child_composite_ids: list[str] = []
    level: int = Field(1, ge=1, le=10)
    synthesis_reason: str = ""


class SkillLine(Line):
    skill_id: str = ""
    intent: str = Field(min_length=1)
    doc_markdown: str = ""
    conditions: str = ""
    metadata: JsonObject = {}
    success_count: Count = 0
    fail_count: Count = 0
    usage_count: Count = 0
    last_used: Timestamp = None
    source_session_id: str | None = None
    source_turn_ids: list[int] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None


class SessionLine(Line):
    session_id: str = Field(pattern=_SESSION_ID)
    topic: str | None = None
    tags: list[str] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None
    consolidated_until: Index = 0


class TurnLine(Line):
    session_id: str = Field(pattern=_SESSION_ID)
    turn_index: Index
    role: Literal["user", "assistant"]
    content: str
    speaker: str | None = None
    turn_id: str | None = None
    metadata: JsonObject | None = None
    token_count: Count = 0
    created_at: Timestamp = None
    compressed: bool = False


class SummaryLine(Line):
    session_id: str = Field(pattern=_SESSION_ID)
    boundary_index: Index
    content: str
    token_count: Count = 0
    created_at: Timestamp = None


class UsageLogLine(Line):
    log_id: str = ""
    session_id: str | None = None
    created_at: Timestamp = None
    query: str = ""
    mode: str = "answer"
    plan: JsonObject = {}
    action_state: JsonObject = {}
    retrieved_ids: list[str] = []
    kept_ids: list[str] = []
    response_excerpt: str | None = None
    user_feedback: str | None = None
    action_outcome: str | None = None
    feedback_source: str | None = None
    feedback_note: str | None = None
    feedback_at: Timestamp = None
    applied_counters: JsonObject | None = None


# -- reports -------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    """The ``POST /memory/import`` outcome: per-kind counts, skipped lines, line errors."""

    imported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, line: int, error: str) -> None:
        """Count a line that could not be imported and keep its error."""
        self.skipped += 1
        self.errors.append({"line": line, "error": error})

    def correct(self, line: int, error: str) -> None:
        """Keep the error of a line that was imported with a corrected value."""
        self.errors.append({"line": line, "error": error})

    def as_dict(self) -> dict[str, Any]:
        """The response body; ``errors`` holds the first 100 by line number."""
        first = heapq.nsmallest(MAX_ERRORS, self.errors, key=lambda error: error["line"])
        return {"imported": dict(self.imported), "skipped": self.skipped, "errors": first}


@dataclass(slots=True)
class ParsedImport:
    """Decoded lines grouped by ``type`` (line numbers are 1-based) plus decoding errors."""

    sections: dict[str, Lines]
    errors: list[tuple[int, str]]


@dataclass(slots=True)
class ImportState:
    """Id maps and written items of one import run."""

    user_id: str
    now: str
    report: ImportReport
    record_ids: dict[str, str] = field(default_factory=dict)
    composite_ids: dict[str, str] = field(default_factory=dict)
    leaves: dict[str, set[str]] = field(default_factory=dict)
    records: list[MemoryRecord] = field(default_factory=list)
    composites: list[CompositeRecord] = field(default_factory=list)
    skills: list[Skill] = field(default_factory=list)


def describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "line"
        return f"{where}: {first.get('msg', 'invalid')}"
    return str(exc)


def jsonl_line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def _max_ts(a: str | None, b: str | None) -> str | None:
    return max((v for v in (a, b) if v), default=None)


def merge_imported_record(existing: MemoryRecord, incoming: MemoryRecord) -> MemoryRecord:
    """Fold an imported duplicate into the stored record: sources unioned, counters maxed.

    The stored text, type and version are kept; timestamps widen to cover both.
    """
    existing.sources = union_sources([existing.sources, incoming.sources])
    for name in (
        "retrieval_count",
        "retrieval_hit_count",
        "action_success_count",
        "action_fail_count",
    ):
        setattr(existing, name, max(getattr(existing, name), getattr(incoming, name)))
    existing.confidence = max(existing.confidence, incoming.confidence)
    existing.created_at = min(existing.created_at, incoming.created_at)
    existing.updated_at = max(existing.updated_at, incoming.updated_at)
    existing.last_retrieved_at = _max_ts(existing.last_retrieved_at, incoming.last_retrieved_at)
    return existing


def reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and could never be exported.
    raise ValueError(f"{name} is not a valid JSON number")


def check_header(raw: bytes) -> None:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The first line is not a JSON export header") from exc
    if not isinstance(header, dict) or header.get("type") != "header":
        raise BadRequest("The first line must be the export header")
    if header.get("format") != EXPORT_FORMAT:
        raise BadRequest(f"Unknown export format {header.get('format')!r}")
    if header.get("version") != EXPORT_VERSION:
        raise BadRequest(f"Unsupported export version {header.get('version')!r}")


def parse_body(body: bytes) -> ParsedImport:
    """Split and decode the body; ``BadRequest`` when the header is missing or unknown."""
    numbered = [(n, raw) for n, raw in enumerate(body.split(b"\n"), start=1) if raw.strip()]
    if not numbered:
        raise BadRequest("The import is empty: expected a lycheemem.export header line")
    check_header(numbered[0][1])
    parsed = ParsedImport(sections=defaultdict(list), errors=[])
    for number, raw in numbered[1:]:
        if len(raw) > MAX_LINE_BYTES:
            parsed.errors.append((number, f"line is longer than {MAX_LINE_BYTES} bytes"))
            continue
        try:
            value = json.loads(raw, parse_constant=reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            parsed.errors.append((number, f"not valid JSON: {exc}"))
            continue
        except RecursionError:
            parsed.errors.append((number, "not valid JSON: nested too deeply"))
            continue
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in SECTIONS:
            parsed.errors.append((number, f"unknown line type {kind!r}"))
            continue
        parsed.sections[kind].append((number, value))
    return parsed
