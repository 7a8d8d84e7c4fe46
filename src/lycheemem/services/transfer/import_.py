"""The import side: validated lines written through the port, then embedded again.

Every record and composite id is recomputed for the importing caller and the references
between them are remapped; the rows are written first, then their texts are embedded with
the current embedder and the vectors written, and only then are the rows flagged indexed.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from lycheemem.domain.models import (
    COMPOSITE_TYPES,
    CompositeRecord,
    MemoryRecord,
    Skill,
    Summary,
    Turn,
    UsageLog,
    VectorRow,
)
from lycheemem.domain.ports import (
    Embedder,
    SemanticStore,
    SessionImport,
    TransferStore,
    VectorIndex,
)
from lycheemem.domain.text.terms import composite_id_for
from lycheemem.services.transfer.schema import (
    SAFE_ID,
    CompositeLine,
    ImportReport,
    ImportState,
    Line,
    Lines,
    ParsedImport,
    RecordLine,
    SessionLine,
    SkillLine,
    SummaryLine,
    TurnLine,
    UsageLogLine,
    describe,
    merge_imported_record,
)

__all__ = ["Importer"]


class Importer:
    """Writes parsed import lines into one tenant's namespace and indexes their vectors."""

    def __init__(
        self,
        *,
        store: TransferStore,
        semantic: SemanticStore,
        vectors: VectorIndex,
        embedder: Embedder,
        embed_batch: int,
    ) -> None:
        self.store = store
        self.semantic = semantic
        self.vectors = vectors
        self.embedder = embedder
        self.embed_batch = embed_batch

    async def import_lines(self, *, user_id: str, lines: ParsedImport, now: str) -> ImportReport:
        """Import parsed lines into ``user_id``'s namespace and index their vectors."""
        state = ImportState(user_id=user_id, now=now, report=ImportReport())
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

    async def _import_records(self, state: ImportState, lines: Lines) -> None:
        incoming: dict[str, MemoryRecord] = {}
        successors: dict[str, str | None] = {}
        for number, data in lines:
            try:
                line = RecordLine.model_validate(data)
                record = line.to_record(state.user_id, state.now)
            except (ValidationError, ValueError) as exc:
                state.report.fail(number, describe(exc))
                continue
            state.record_ids[line.record_id or record.record_id] = record.record_id
            successors[record.record_id] = line.superseded_by
            prior = incoming.get(record.record_id)
            incoming[record.record_id] = merge_imported_record(prior, record) if prior else record
            state.report.imported["records"] += 1
        for record in incoming.values():
            old = successors.get(record.record_id)
            record.superseded_by = state.record_ids.get(old) if old else None
        records = list(incoming.values())
        if records:
            state.records = await self.store.upsert_imported_records(records, merge_imported_record)

    @staticmethod
    def _composite(state: ImportState, line: CompositeLine) -> tuple[CompositeRecord, list[str]]:
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

    async def _import_composites(self, state: ImportState, lines: Lines) -> None:
        parsed: list[tuple[int, CompositeLine]] = []
        for number, data in lines:
            try:
                parsed.append((number, CompositeLine.model_validate(data)))
            except ValidationError as exc:
                state.report.fail(number, describe(exc))
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
            await self.store.import_composites(written)
            state.composites = [composite for composite, _ in written]

    async def _import_skills(self, state: ImportState, lines: Lines) -> None:
        parsed: list[SkillLine] = []
        for number, data in lines:
            try:
                parsed.append(SkillLine.model_validate(data))
            except ValidationError as exc:
                state.report.fail(number, describe(exc))
        wanted = [line.skill_id for line in parsed if SAFE_ID.match(line.skill_id)]
        owners = await self.store.id_owners("skills", wanted)
        for line in parsed:
            skill_id = line.skill_id
            taken = owners.get(skill_id, state.user_id) != state.user_id
            if taken or not SAFE_ID.match(skill_id):
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
            await self.store.import_skills(skills)

    async def _import_sessions(self, state: ImportState, sections: dict[str, Lines]) -> None:
        sessions = self._valid(state, SessionLine, sections.get("session", []))
        turns = self._valid(state, TurnLine, sections.get("turn", []))
        summaries = self._valid(state, SummaryLine, sections.get("summary", []))
        if sessions or turns or summaries:
            await self._write_sessions(state, sessions, turns)
            await self._write_summaries(state, summaries)

    @staticmethod
    def _valid(state: ImportState, model: type[Line], lines: Lines) -> list[tuple[int, Any]]:
        valid: list[tuple[int, Any]] = []
        for number, data in lines:
            try:
                valid.append((number, model.model_validate(data)))
            except ValidationError as exc:
                state.report.fail(number, describe(exc))
        return valid

    async def _write_sessions(
        self,
        state: ImportState,
        sessions: list[tuple[int, SessionLine]],
        turns: list[tuple[int, TurnLine]],
    ) -> None:
        rows: list[SessionImport] = []
        for _, line in sessions:
            created = line.created_at or state.now
            rows.append(
                SessionImport(
                    session_id=line.session_id,
                    topic=line.topic,
                    tags=list(line.tags),
                    created_at=created,
                    updated_at=line.updated_at or created,
                    consolidated_until=line.consolidated_until,
                )
            )
        new_turns: list[Turn] = []
        for _, turn_line in turns:
            fields = turn_line.model_dump(exclude={"created_at"})
            created_at = turn_line.created_at or state.now
            new_turns.append(Turn(user_id=state.user_id, created_at=created_at, **fields))
        result = await self.store.import_sessions(state.user_id, rows, new_turns, now=state.now)
        state.report.imported["sessions"] += len(sessions)
        state.report.imported["turns"] += result.turns_inserted
        state.report.skipped += result.turns_skipped
        for (number, line), turns_held in zip(sessions, result.clamped, strict=True):
            if turns_held is not None:
                # A watermark past the last turn would stop the session's consolidation for good.
                state.report.correct(
                    number,
                    f"consolidated_until: {line.consolidated_until} is beyond the session's "
                    f"{turns_held} turns; lowered to {turns_held}",
                )

    async def _write_summaries(
        self, state: ImportState, summaries: list[tuple[int, SummaryLine]]
    ) -> None:
        rows: list[Summary] = []
        for _, line in summaries:
            fields = line.model_dump(exclude={"created_at"})
            rows.append(
                Summary(user_id=state.user_id, created_at=line.created_at or state.now, **fields)
            )
        inserted = await self.store.import_summaries(state.user_id, rows, now=state.now)
        state.report.imported["summaries"] += inserted
        state.report.skipped += len(rows) - inserted

    async def _import_usage_logs(self, state: ImportState, lines: Lines) -> None:
        parsed = self._valid(state, UsageLogLine, lines)
        wanted = [line.log_id for _, line in parsed if SAFE_ID.match(line.log_id)]
        owners = await self.store.id_owners("usage_logs", wanted)
        known = {**state.record_ids, **state.composite_ids}
        logs: dict[str, UsageLog] = {}
        for _, line in parsed:
            owner = owners.get(line.log_id)
            if owner == state.user_id or line.log_id in logs:
                state.report.skipped += 1
                continue
            log_id = line.log_id if owner is None and SAFE_ID.match(line.log_id) else ""
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
            await self.store.import_usage_logs(list(logs.values()))

    # -- vectors -------------------------------------------------------------------
    async def _embed_pairs(self, items: list[Any]) -> list[tuple[Any, Any]]:
        pairs: list[tuple[Any, Any]] = []
        for start in range(0, len(items), self.embed_batch):
            part = items[start : start + self.embed_batch]
            texts = [i.semantic_text for i in part] + [i.normalized_text for i in part]
            matrix = await self.embedder.embed(texts, kind="document")
            pairs.extend((matrix[n], matrix[len(part) + n]) for n in range(len(part)))
        return pairs

    async def _index(self, state: ImportState) -> None:
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
