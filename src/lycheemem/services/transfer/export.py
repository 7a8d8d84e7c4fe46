"""The export side: one tenant's memory as JSONL lines, read page by page through the port.

A header with per-kind counts comes first, then records, composites (ascending level),
skills, optionally sessions (each followed by its turns and summaries) and usage logs. No
embeddings and no ``user_id`` travel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import fields
from typing import Any, TypeVar

from lycheemem.domain.models import (
    CompositeRecord,
    MemoryRecord,
    Session,
    Skill,
    Summary,
    Turn,
    UsageLog,
)
from lycheemem.domain.ports import PageCursor, TransferStore
from lycheemem.services.presenters import composite_public, record_public, skill_public
from lycheemem.services.transfer.schema import EXPORT_FORMAT, EXPORT_VERSION, jsonl_line

__all__ = ["Exporter"]

ItemT = TypeVar("ItemT")
Pager = Callable[[str, PageCursor | None, int], Awaitable[tuple[list[ItemT], PageCursor | None]]]


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


def _export_session(session: Session) -> dict[str, Any]:
    return {
        "type": "session",
        "session_id": session.session_id,
        "topic": session.topic,
        "tags": list(session.tags),
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "consolidated_until": session.consolidated_until,
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


class Exporter:
    """Streams the export of one tenant from a ``TransferStore``, ``page_size`` rows a read."""

    def __init__(self, store: TransferStore, *, page_size: int) -> None:
        self.store = store
        self.page_size = page_size

    async def lines(
        self,
        *,
        user_id: str,
        include_sessions: bool,
        include_usage_logs: bool,
        now: Callable[[], str],
        embedding_model: str,
    ) -> AsyncIterator[str]:
        """Yield the JSONL export of the caller, one line (with newline) at a time.

        Queued fire-and-forget writes (usage logs, retrieval counters) land first, so the
        export holds everything a response has already reported; ``now`` stamps the header.
        """
        await self.store.drain()
        counts = await self.store.export_counts(user_id)
        if not include_sessions:
            for name in ("sessions", "turns", "summaries"):
                counts.pop(name)
        if not include_usage_logs:
            counts.pop("usage_logs")
        yield jsonl_line(
            {
                "type": "header",
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "exported_at": now(),
                "embedding_model": embedding_model,
                "counts": counts,
            }
        )
        async for record in self._pages(self.store.record_page, user_id):
            yield jsonl_line(_export_record(record))
        async for composite in self._pages(self.store.composite_page, user_id):
            yield jsonl_line(_export_composite(composite))
        async for skill in self._pages(self.store.skill_page, user_id):
            yield jsonl_line(_export_skill(skill))
        if include_sessions:
            async for session in self._pages(self.store.session_page, user_id):
                async for line in self._session_lines(user_id, session):
                    yield line
        if include_usage_logs:
            async for log in self._pages(self.store.usage_log_page, user_id):
                yield jsonl_line(_export_usage_log(log))

    async def _pages(self, page: Pager[ItemT], user_id: str) -> AsyncIterator[ItemT]:
        after: PageCursor | None = None
        while True:
            items, after = await page(user_id, after, self.page_size)
            for item in items:
                yield item
            if len(items) < self.page_size:
                break

    async def _session_lines(self, user_id: str, session: Session) -> AsyncIterator[str]:
        yield jsonl_line(_export_session(session))
        turns, summaries = await self.store.session_history(user_id, session.session_id)
        for turn in turns:
            yield jsonl_line(_export_turn(turn))
        for summary in summaries:
            yield jsonl_line(_export_summary(summary))
