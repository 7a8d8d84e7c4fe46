"""JSONL export and import of one tenant's memory (API.md §8).

Export streams a header, then records, composites (ascending level), skills,
optionally sessions (each followed by its turns and summaries) and usage
logs, reading SQLite page by page. Import validates each line on its own,
recomputes every record and composite id for the importing caller, remaps
the references between them, writes SQLite first and then embeds the texts
again with the current embedder. No embeddings and no ``user_id`` travel.
"""

from __future__ import annotations

import heapq
import json
import re
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lycheemem.clock import Clock, format_ts, parse_ts
from lycheemem.domain.bulk import offload
from lycheemem.domain.models import (
    COMPOSITE_TYPES,
    MAX_SOURCES,
    RECORD_TYPES,
    CompositeRecord,
    MemoryRecord,
    Skill,
    SourceRef,
    Summary,
    Temporal,
    Turn,
    UsageLog,
    union_sources,
)
from lycheemem.domain.ports import Embedder
from lycheemem.domain.text.limits import MAX_COUNTER, MAX_INDEX, check_json_value, supported_utc
from lycheemem.domain.text.terms import canon, composite_id_for, record_id_for
from lycheemem.errors import BadRequest
from lycheemem.services.presenters import composite_public, record_public, skill_public
from lycheemem.storage.lance.vector_index import LanceVectorIndex, VectorRow
from lycheemem.storage.sqlite import admin as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import ensure_session, fetch_summaries, fetch_turns
from lycheemem.storage.sqlite.skills import skill_from_row
from lycheemem.storage.sqlite.usage import usage_log_from_row

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "ImportReport",
    "MemoryTransfer",
    "ParsedImport",
    "merge_imported_record",
]

EXPORT_FORMAT = "lycheemem.export"
EXPORT_VERSION = 1
MAX_LINE_BYTES = 1024 * 1024
MAX_ERRORS = 100
# Records per write transaction of an import (a few hundred ms of writer time at most).
IMPORT_WRITE_CHUNK = 100
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SESSION_ID = r"^[^\s/\\?#%\x00-\x1f\x7f]{1,128}$"
_Lines = list[tuple[int, dict[str, Any]]]
"""Parsed JSONL lines of one section with their 1-based line numbers."""
_SECTIONS = ("record", "composite", "skill", "session", "turn", "summary", "usage_log")
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


class _Line(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _SourceLine(_Line):
    session_id: str
    turn_ids: list[int] = []
    turn_refs: list[str] = []


class _TemporalLine(_Line):
    t_ref: str | None = None
    t_valid_from: str | None = None
    t_valid_to: str | None = None


class _ItemLine(_Line):
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


class _RecordLine(_ItemLine):
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


class _CompositeLine(_ItemLine):
    composite_id: str = ""
    record_id: str = ""
    source_record_ids: list[str] = []
    child_composite_ids: list[str] = []
    level: int = Field(1, ge=1, le=10)
    synthesis_reason: str = ""


class _SkillLine(_Line):
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


class _SessionLine(_Line):
    session_id: str = Field(pattern=_SESSION_ID)
    topic: str | None = None
    tags: list[str] = []
    created_at: Timestamp = None
    updated_at: Timestamp = None
    consolidated_until: Index = 0


class _TurnLine(_Line):
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


class _SummaryLine(_Line):
    session_id: str = Field(pattern=_SESSION_ID)
    boundary_index: Index
    content: str
    token_count: Count = 0
    created_at: Timestamp = None


class _UsageLogLine(_Line):
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

    sections: dict[str, _Lines]
    errors: list[tuple[int, str]]


@dataclass(slots=True)
class _State:
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


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "line"
        return f"{where}: {first.get('msg', 'invalid')}"
    return str(exc)


def _line(value: dict[str, Any]) -> str:
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


# -- export --------------------------------------------------------------------


def _export_record(record: MemoryRecord) -> dict[str, Any]:
    body = record_public(record)
    body.pop("kind")
    body["history"] = list(record.history)
    return {"type": "record", **body}


def _export_composite(composite: CompositeRecord) -> dict[str, Any]:
    body = composite_public(composite)
    body.pop("kind")
    body.pop("record_id")
    return {"type": "composite", **body}


def _export_skill(skill: Skill) -> dict[str, Any]:
    body = skill_public(skill)
    body.pop("id")
    body.update(
        fail_count=skill.fail_count,
        source_session_id=skill.source_session_id,
        source_turn_ids=list(skill.source_turn_ids),
    )
    return {"type": "skill", **body}


def _export_session(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "session",
        "session_id": row["session_id"],
        "topic": row["topic"],
        "tags": json.loads(row["tags"] or "[]"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "consolidated_until": row["last_consolidated_turn_index"],
    }


def _export_turn(turn: Turn) -> dict[str, Any]:
    return {
        "type": "turn",
        "session_id": turn.session_id,
        "turn_index": turn.turn_index,
        "role": turn.role,
        "content": turn.content,
        "speaker": turn.speaker,
        "turn_id": turn.turn_id,
        "metadata": turn.metadata,
        "token_count": turn.token_count,
        "created_at": turn.created_at,
        "compressed": turn.compressed,
    }


def _export_summary(summary: Summary) -> dict[str, Any]:
    return {
        "type": "summary",
        "session_id": summary.session_id,
        "boundary_index": summary.boundary_index,
        "content": summary.content,
        "token_count": summary.token_count,
        "created_at": summary.created_at,
    }


def _export_usage_log(log: UsageLog) -> dict[str, Any]:
    body = {f.name: getattr(log, f.name) for f in fields(log) if f.name != "user_id"}
    return {"type": "usage_log", **body}


# -- the service ---------------------------------------------------------------


class MemoryTransfer:
    """Export and import of one tenant's memory through SQLite and the vector index."""

    def __init__(
        self,
        *,
        db: Database,
        semantic: SqliteSemanticStore,
        vectors: LanceVectorIndex,
        embedder: Embedder,
        clock: Clock,
        embed_batch: int = 256,
        page_size: int = 500,
    ) -> None:
        self.db = db
        self.semantic = semantic
        self.vectors = vectors
        self.embedder = embedder
        self.clock = clock
        self.embed_batch = embed_batch
        self.page_size = page_size

    # -- export ----------------------------------------------------------------
    async def export_lines(
        self, *, user_id: str, include_sessions: bool, include_usage_logs: bool
    ) -> AsyncIterator[str]:
        """Yield the JSONL export of the caller, one line (with newline) at a time.

        Queued fire-and-forget writes (usage logs, retrieval counters) land first, so the
        export holds everything a response has already reported.
        """
        await self.db.drain()
        counts = await self.db.read(lambda conn: sql.export_counts(conn, user_id))
        if not include_sessions:
            for name in ("sessions", "turns", "summaries"):
                counts.pop(name)
        if not include_usage_logs:
            counts.pop("usage_logs")
        yield _line(
            {
                "type": "header",
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "exported_at": self.clock.now_iso(),
                "embedding_model": self.embedder.model_name,
                "counts": counts,
            }
        )
        async for line in self._export_items(user_id):
            yield line
        async for line in self._export_rows(user_id, "skills"):
            yield line
        if include_sessions:
            async for line in self._export_rows(user_id, "sessions"):
                yield line
        if include_usage_logs:
            async for line in self._export_rows(user_id, "usage_logs"):
                yield line

    async def _export_items(self, user_id: str) -> AsyncIterator[str]:
        after = 0
        while True:
            records, after = await self.db.read(
                partial(sql.record_page, user_id=user_id, after=after, limit=self.page_size)
            )
            for record in records:
                yield _line(_export_record(record))
            if len(records) < self.page_size:
                break
        position = (0, 0)
        while True:
            composites, position = await self.db.read(
                partial(sql.composite_page, user_id=user_id, after=position, limit=self.page_size)
            )
            for composite in composites:
                yield _line(_export_composite(composite))
            if len(composites) < self.page_size:
                break

    async def _export_rows(self, user_id: str, table: str) -> AsyncIterator[str]:
        after = 0
        while True:
            rows = await self.db.read(
                partial(
                    sql.rows_after, table=table, user_id=user_id, after=after, limit=self.page_size
                )
            )
            for row in rows:
                async for line in self._export_row(user_id, table, row):
                    yield line
            if len(rows) < self.page_size:
                break
            after = rows[-1]["_rowid"]

    async def _export_row(self, user_id: str, table: str, row: sqlite3.Row) -> AsyncIterator[str]:
        if table == "skills":
            yield _line(_export_skill(skill_from_row(row)))
        elif table == "usage_logs":
            yield _line(_export_usage_log(usage_log_from_row(row)))
        else:
            session_id = row["session_id"]
            yield _line(_export_session(dict(row)))
            turns, summaries = await self.db.read(
                lambda conn: (
                    fetch_turns(conn, user_id, session_id),
                    fetch_summaries(conn, user_id, session_id),
                )
            )
            for turn in turns:
                yield _line(_export_turn(turn))
            for summary in summaries:
                yield _line(_export_summary(summary))

    # -- import: parsing -------------------------------------------------------
    def parse(self, body: bytes) -> ParsedImport:
        """Split and decode the body; ``BadRequest`` when the header is missing or unknown."""
        numbered = [(n, raw) for n, raw in enumerate(body.split(b"\n"), start=1) if raw.strip()]
        if not numbered:
            raise BadRequest("The import is empty: expected a lycheemem.export header line")
        _check_header(numbered[0][1])
        parsed = ParsedImport(sections=defaultdict(list), errors=[])
        for number, raw in numbered[1:]:
            if len(raw) > MAX_LINE_BYTES:
                parsed.errors.append((number, f"line is longer than {MAX_LINE_BYTES} bytes"))
                continue
            try:
                value = json.loads(raw, parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError) as exc:
                parsed.errors.append((number, f"not valid JSON: {exc}"))
                continue
            except RecursionError:
                parsed.errors.append((number, "not valid JSON: nested too deeply"))
                continue
            kind = value.get("type") if isinstance(value, dict) else None
            if kind not in _SECTIONS:
                parsed.errors.append((number, f"unknown line type {kind!r}"))
                continue
            parsed.sections[kind].append((number, value))
        return parsed

    # -- import: writing -------------------------------------------------------
    async def import_lines(self, *, user_id: str, lines: ParsedImport) -> ImportReport:
        """Import parsed lines into ``user_id``'s namespace and index their vectors."""
        state = _State(user_id=user_id, now=self.clock.now_iso(), report=ImportReport())
        for number, error in lines.errors:
            state.report.fail(number, error)
        sections = lines.sections
        await self._import_records(state, sections.get("record", []))
        await self._import_composites(state, sections.get("composite", []))
        await self._import_skills(state, sections.get("skill", []))
        await self._import_sessions(state, sections)
        await self._import_usage_logs(state, sections.get("usage_log", []))
        await self._index(state)
        return state.report

    async def _import_records(self, state: _State, lines: _Lines) -> None:
        # Validating thousands of lines is CPU work: off the event loop, or every other
        # request waits for it (measured: loop stalls of 1-2 s per 2,000-record import).
        records = await offload(self._records_from_lines, state, lines)
        state.records = []
        # Small transactions: another tenant's write waits behind one chunk, not a whole
        # import (measured: 2-6 s waits for logins and job claims behind one transaction).
        for start in range(0, len(records), IMPORT_WRITE_CHUNK):
            part = records[start : start + IMPORT_WRITE_CHUNK]
            state.records += await self.db.write(
                partial(sql.upsert_imported_records, records=part, merge=merge_imported_record)
            )

    @staticmethod
    def _records_from_lines(state: _State, lines: _Lines) -> list[MemoryRecord]:
        incoming: dict[str, MemoryRecord] = {}
        successors: dict[str, str | None] = {}
        for number, data in lines:
            try:
                line = _RecordLine.model_validate(data)
                record = line.to_record(state.user_id, state.now)
            except (ValidationError, ValueError) as exc:
                state.report.fail(number, _describe(exc))
                continue
            state.record_ids[line.record_id or record.record_id] = record.record_id
            successors[record.record_id] = line.superseded_by
            prior = incoming.get(record.record_id)
            incoming[record.record_id] = merge_imported_record(prior, record) if prior else record
            state.report.imported["records"] += 1
        for record in incoming.values():
            old = successors.get(record.record_id)
            record.superseded_by = state.record_ids.get(old) if old else None
        return list(incoming.values())

    def _composite(self, state: _State, line: _CompositeLine) -> tuple[CompositeRecord, list[str]]:
        if line.memory_type not in COMPOSITE_TYPES:
            raise ValueError(f"unknown composite memory_type {line.memory_type!r}")
        leaves = [state.record_ids.get(rid) for rid in line.source_record_ids]
        children = [state.composite_ids.get(cid) for cid in line.child_composite_ids]
        if None in leaves or None in children:
            raise ValueError("composite refers to records or composites missing from the import")
        leaf_ids = list(dict.fromkeys(r for r in leaves if r))
        child_ids = list(dict.fromkeys(c for c in children if c))
        if len(leaf_ids) + len(child_ids) < 1:
            raise ValueError("composite has no members")
        covered = set().union(*(state.leaves[c] for c in child_ids))
        direct = [rid for rid in leaf_ids if rid not in covered]
        composite = CompositeRecord(
            composite_id=composite_id_for(state.user_id, [*direct, *child_ids]),
            user_id=state.user_id,
            source_record_ids=leaf_ids,
            child_composite_ids=child_ids,
            level=line.level,
            synthesis_reason=line.synthesis_reason,
            **line.shared(state.now),
        )
        return composite, direct

    async def _import_composites(self, state: _State, lines: _Lines) -> None:
        parsed: list[tuple[int, _CompositeLine]] = []
        for number, data in lines:
            try:
                parsed.append((number, _CompositeLine.model_validate(data)))
            except ValidationError as exc:
                state.report.fail(number, _describe(exc))
        written: list[tuple[CompositeRecord, list[str]]] = []
        for number, line in sorted(parsed, key=lambda pair: (pair[1].level, pair[0])):
            try:
                composite, direct = self._composite(state, line)
            except ValueError as exc:
                state.report.fail(number, str(exc))
                continue
            old_id = line.composite_id or line.record_id or composite.composite_id
            state.composite_ids[old_id] = composite.composite_id
            state.leaves[composite.composite_id] = set(composite.source_record_ids)
            written.append((composite, direct))
            state.report.imported["composites"] += 1
        if written:
            await self.db.write(lambda conn: sql.import_composites(conn, written))
            state.composites = [composite for composite, _ in written]

    async def _import_skills(self, state: _State, lines: _Lines) -> None:
        parsed: list[_SkillLine] = []
        for number, data in lines:
            try:
                parsed.append(_SkillLine.model_validate(data))
            except ValidationError as exc:
                state.report.fail(number, _describe(exc))
        wanted = [line.skill_id for line in parsed if _SAFE_ID.match(line.skill_id)]
        owners = await self.db.read(lambda conn: sql.id_owners(conn, "skills", wanted))
        for line in parsed:
            skill_id = line.skill_id
            taken = owners.get(skill_id, state.user_id) != state.user_id
            if taken or not _SAFE_ID.match(skill_id):
                skill_id = uuid.uuid4().hex
            created = line.created_at or state.now
            fields = line.model_dump(exclude={"skill_id", "created_at", "updated_at"})
            state.skills.append(
                Skill(
                    skill_id=skill_id,
                    user_id=state.user_id,
                    created_at=created,
                    updated_at=line.updated_at or created,
                    **fields,
                )
            )
        skills = list({skill.skill_id: skill for skill in state.skills}.values())
        state.skills = skills
        state.report.imported["skills"] += len(parsed)
        if skills:
            await self.db.write(lambda conn: sql.import_skills(conn, skills))

    async def _import_sessions(self, state: _State, sections: dict[str, _Lines]) -> None:
        sessions = self._valid(state, _SessionLine, sections.get("session", []))
        turns = self._valid(state, _TurnLine, sections.get("turn", []))
        summaries = self._valid(state, _SummaryLine, sections.get("summary", []))
        if sessions or turns or summaries:
            await self.db.write(lambda conn: self._write_sessions(conn, state, sessions, turns))
            await self.db.write(lambda conn: self._write_summaries(conn, state, summaries))

    @staticmethod
    def _valid(state: _State, model: type[_Line], lines: _Lines) -> list[tuple[int, Any]]:
        valid: list[tuple[int, Any]] = []
        for number, data in lines:
            try:
                valid.append((number, model.model_validate(data)))
            except ValidationError as exc:
                state.report.fail(number, _describe(exc))
        return valid

    @staticmethod
    def _write_sessions(
        conn: sqlite3.Connection,
        state: _State,
        sessions: list[tuple[int, _SessionLine]],
        turns: list[tuple[int, _TurnLine]],
    ) -> None:
        for _, line in sessions:
            created = line.created_at or state.now
            sql.import_session_row(
                conn,
                user_id=state.user_id,
                session_id=line.session_id,
                topic=line.topic,
                tags=line.tags,
                created_at=created,
                updated_at=line.updated_at or created,
                consolidated_until=line.consolidated_until,
            )
            state.report.imported["sessions"] += 1
        for _, turn_line in turns:
            ensure_session(conn, state.user_id, turn_line.session_id, state.now)
            fields = turn_line.model_dump(exclude={"created_at"})
            created_at = turn_line.created_at or state.now
            turn = Turn(user_id=state.user_id, created_at=created_at, **fields)
            if sql.import_turn_row(conn, turn):
                state.report.imported["turns"] += 1
            else:
                state.report.skipped += 1
        for number, line in sessions:
            turns_held = sql.clamp_watermark(conn, state.user_id, line.session_id)
            if turns_held is not None:
                # A watermark past the last turn would stop the session's consolidation for good.
                state.report.correct(
                    number,
                    f"consolidated_until: {line.consolidated_until} is beyond the session's "
                    f"{turns_held} turns; lowered to {turns_held}",
                )

    @staticmethod
    def _write_summaries(
        conn: sqlite3.Connection, state: _State, summaries: list[tuple[int, _SummaryLine]]
    ) -> None:
        for _, line in summaries:
            ensure_session(conn, state.user_id, line.session_id, state.now)
            fields = line.model_dump(exclude={"created_at"})
            summary = Summary(
                user_id=state.user_id, created_at=line.created_at or state.now, **fields
            )
            if sql.import_summary_row(conn, summary):
                state.report.imported["summaries"] += 1
            else:
                state.report.skipped += 1

    async def _import_usage_logs(self, state: _State, lines: _Lines) -> None:
        parsed = self._valid(state, _UsageLogLine, lines)
        wanted = [line.log_id for _, line in parsed if _SAFE_ID.match(line.log_id)]
        owners = await self.db.read(lambda conn: sql.id_owners(conn, "usage_logs", wanted))
        known = {**state.record_ids, **state.composite_ids}
        logs: dict[str, UsageLog] = {}
        for _, line in parsed:
            owner = owners.get(line.log_id)
            if owner == state.user_id or line.log_id in logs:
                state.report.skipped += 1
                continue
            log_id = line.log_id if owner is None and _SAFE_ID.match(line.log_id) else ""
            fields = line.model_dump(exclude={"log_id", "created_at", "retrieved_ids", "kept_ids"})
            log = UsageLog(
                log_id=log_id or uuid.uuid4().hex,
                user_id=state.user_id,
                created_at=line.created_at or state.now,
                retrieved_ids=[known[i] for i in line.retrieved_ids if i in known],
                kept_ids=[known[i] for i in line.kept_ids if i in known],
                **fields,
            )
            logs[line.log_id or log.log_id] = log
        state.report.imported["usage_logs"] += len(logs)
        if logs:
            rows = list(logs.values())
            await self.db.write(lambda conn: sql.import_usage_log_rows(conn, rows))

    # -- import: vectors -------------------------------------------------------
    async def _embed_pairs(self, items: list[Any]) -> list[tuple[Any, Any]]:
        pairs: list[tuple[Any, Any]] = []
        for start in range(0, len(items), self.embed_batch):
            part = items[start : start + self.embed_batch]
            texts = [i.semantic_text for i in part] + [i.normalized_text for i in part]
            matrix = await self.embedder.embed(texts, kind="document")
            pairs.extend((matrix[n], matrix[len(part) + n]) for n in range(len(part)))
        return pairs

    async def _index(self, state: _State) -> None:
        record_pairs = await self._embed_pairs(state.records)
        records_rows = [
            VectorRow(r.record_id, r.user_id, v, nv, memory_type=r.memory_type, expired=r.expired)
            for r, (v, nv) in zip(state.records, record_pairs, strict=True)
        ]
        composite_pairs = await self._embed_pairs(state.composites)
        composite_rows = [
            VectorRow(c.composite_id, c.user_id, v, nv, c.memory_type, c.level, c.expired)
            for c, (v, nv) in zip(state.composites, composite_pairs, strict=True)
        ]
        await self.vectors.upsert("memory_records", records_rows)
        await self.vectors.upsert("composite_records", composite_rows)
        await self._index_skills(state.skills)
        await self.semantic.mark_indexed(
            record_ids=[r.record_id for r in state.records],
            composite_ids=[c.composite_id for c in state.composites],
            skill_ids=[s.skill_id for s in state.skills],
        )

    async def _index_skills(self, skills: list[Skill]) -> None:
        rows: list[VectorRow] = []
        for start in range(0, len(skills), self.embed_batch):
            part = skills[start : start + self.embed_batch]
            matrix = await self.embedder.embed([s.intent for s in part], kind="document")
            rows.extend(VectorRow(s.skill_id, s.user_id, matrix[n]) for n, s in enumerate(part))
        await self.vectors.upsert("skills", rows)


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and could never be exported.
    raise ValueError(f"{name} is not a valid JSON number")


def _check_header(raw: bytes) -> None:
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
