"""MemoryService: the operations REST and MCP share.

Edges parse and validate input, call one method here, and shape the
response. Methods take keyword-only arguments and the caller's ``user_id``;
every read and write is confined to that namespace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lycheemem.chat.runner import ChatRunner
from lycheemem.clock import Clock
from lycheemem.domain.locks import SessionLocks
from lycheemem.domain.models import Session, Summary, Turn
from lycheemem.domain.ports import (
    AppendOutcome,
    SemanticStore,
    SessionListItem,
    SessionStore,
    TenancyStore,
    VectorIndex,
)
from lycheemem.domain.turns import TurnFactory
from lycheemem.domain.working_memory.manager import WorkingMemoryManager
from lycheemem.errors import SessionNotFound
from lycheemem.retrieval.search import SearchOutcome, SemanticSearch
from lycheemem.services.consolidation import ConsolidationService
from lycheemem.services.operations import PipelineOperations

__all__ = ["MemoryService", "SessionDeleted", "SessionView"]


@dataclass(slots=True)
class SessionView:
    """A session with a page of its turns and its summaries."""

    session: Session
    turns: list[Turn]
    summaries: list[Summary]
    active_turn_count: int
    wm_current_tokens: int
    wm_max_tokens: int
    feedback: dict[str, str] = field(default_factory=dict)
    """``{usage_log_id: feedback}`` given so far to the session's answers."""


@dataclass(slots=True)
class SessionDeleted:
    """What ``delete_session`` removed."""

    turns_deleted: int
    records_deleted: int = 0
    composites_deleted: int = 0


class MemoryService:
    """Session and memory operations, independent of the transport.

    Built last by bootstrap, from parts that never refer back to it: the stores (ports),
    the working memory, the search, the consolidation queue and the chat graph's
    ``PipelineOperations`` and ``ChatRunner``.
    """

    def __init__(
        self,
        *,
        sessions: SessionStore,
        tenancy: TenancyStore,
        semantic: SemanticStore,
        vectors: VectorIndex,
        working_memory: WorkingMemoryManager,
        turns: TurnFactory,
        locks: SessionLocks,
        clock: Clock,
        search: SemanticSearch,
        consolidation: ConsolidationService,
        operations: PipelineOperations,
        chat_runner: ChatRunner,
    ) -> None:
        self.sessions = sessions
        self.tenancy = tenancy
        self.semantic = semantic
        self.vectors = vectors
        self.working_memory = working_memory
        self.turns = turns
        self.locks = locks
        self.clock = clock
        self.searcher = search
        self.consolidation = consolidation
        self.operations = operations
        self.chat_runner = chat_runner

    # -- writing --------------------------------------------------------------
    async def append_turn(
        self,
        *,
        user_id: str,
        session_id: str,
        role: str,
        content: str,
        token_count: int = 0,
        turn_id: str | None = None,
        created_at: datetime | None = None,
        speaker: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> AppendOutcome:
        """Store one turn in the caller's session (created on first use).

        Secrets are redacted first when configured; a repeated ``turn_id``
        returns ``duplicate`` and stores nothing.
        """
        turn = self.turns.build(
            user_id=user_id,
            session_id=session_id,
            role=role,
            content=content,
            token_count=token_count,
            turn_id=turn_id,
            created_at=created_at,
            speaker=speaker,
            metadata=metadata,
        )
        async with self.locks.hold(user_id, session_id):
            outcome = await self.sessions.append_turn(turn, now=self.clock.now_iso())
            if role == "user" and outcome.status == "appended":
                await self.operations.implicit_feedback(
                    user_id=user_id, session_id=session_id, text=turn.content
                )
            return outcome

    async def update_session_meta(
        self,
        *,
        user_id: str,
        session_id: str,
        topic: str | None = None,
        tags: list[str] | None = None,
        set_topic: bool = False,
    ) -> Session:
        """Set the session's topic and/or tags, creating the session if needed."""
        return await self.sessions.update_meta(
            user_id,
            session_id,
            topic=topic,
            tags=tags,
            set_topic=set_topic,
            now=self.clock.now_iso(),
        )

    # -- reading --------------------------------------------------------------
    async def require_session(self, *, user_id: str, session_id: str) -> Session:
        """The caller's session, or ``SessionNotFound``."""
        session = await self.sessions.get(user_id, session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def session_view(
        self, *, user_id: str, session_id: str, offset: int, limit: int
    ) -> SessionView:
        """The session with a page of turns, its summaries and working-memory usage."""
        session = await self.require_session(user_id=user_id, session_id=session_id)
        turns = await self.sessions.turns(user_id, session_id, offset=offset, limit=limit)
        summaries = await self.sessions.summaries(user_id, session_id)
        state = await self.working_memory.render(user_id, session_id)
        feedback: dict[str, str] = {}
        if self.operations is not None:
            feedback = await self.operations.session_feedback(
                user_id=user_id, session_id=session_id
            )
        return SessionView(
            session=session,
            turns=turns,
            summaries=summaries,
            active_turn_count=len(state.raw_recent_turns),
            wm_current_tokens=state.wm_token_usage,
            wm_max_tokens=state.wm_max_tokens,
            feedback=feedback,
        )

    async def list_sessions(
        self, *, user_id: str, offset: int, limit: int
    ) -> tuple[list[SessionListItem], int]:
        """The caller's sessions (newest first) and their total."""
        return await self.sessions.list_sessions(user_id, offset=offset, limit=limit)

    # -- deleting -------------------------------------------------------------
    async def delete_session(
        self, *, user_id: str, session_id: str, forget_memories: bool = False
    ) -> SessionDeleted:
        """Delete the caller's session with its turns, summaries, usage logs and jobs.

        With ``forget_memories`` the records only this session taught, and every
        composite covering them, are deleted too (rows, then vectors).
        """
        await self.require_session(user_id=user_id, session_id=session_id)
        async with self.locks.hold(user_id, session_id):
            deletion = await self.tenancy.delete_session(
                user_id, session_id, forget_memories=forget_memories
            )
        self.working_memory.forget(user_id, session_id)
        await self.vectors.delete("memory_records", user_id, deletion.record_ids)
        await self.vectors.delete("composite_records", user_id, deletion.composite_ids)
        return SessionDeleted(
            turns_deleted=deletion.turns_deleted,
            records_deleted=len(deletion.record_ids),
            composites_deleted=len(deletion.composite_ids),
        )

    # -- semantic memory ------------------------------------------------------
    async def search(
        self,
        *,
        user_id: str,
        query: str,
        top_k: int = 5,
        session_id: str | None = None,
        include_graph: bool = True,
        include_skills: bool = True,
        reference_time: datetime | None = None,
    ) -> SearchOutcome:
        """Search the caller's semantic memory and skills (``POST /memory/search``)."""
        return await self.operations.search(
            user_id=user_id,
            query=query,
            top_k=top_k,
            session_id=session_id,
            include_graph=include_graph,
            include_skills=include_skills,
            reference_time=reference_time,
        )

    async def consolidate(
        self,
        *,
        user_id: str,
        session_id: str,
        retrieved_context: str = "",
        background: bool = True,
        force: bool = False,
    ) -> dict[str, Any]:
        """Consolidate every turn of the caller's session after its watermark."""
        return await self.consolidation.consolidate(
            user_id=user_id,
            session_id=session_id,
            retrieved_context=retrieved_context,
            background=background,
            force=force,
        )

    async def last_consolidation(self, *, user_id: str, session_id: str | None) -> dict[str, Any]:
        """The caller's most recent consolidation job (of that session, if given)."""
        return await self.consolidation.last(user_id=user_id, session_id=session_id)

    # -- pipeline (chat, smart-search, synthesize, reason, feedback) -------------
    async def chat(
        self,
        *,
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str = "",
        reference_time: datetime | None = None,
    ) -> dict[str, Any]:
        """One chat turn through the whole graph (``POST /chat/complete``)."""
        return await self.chat_runner.complete(
            user_id=user_id,
            session_id=session_id,
            message=message,
            trace_id=trace_id,
            reference_time=reference_time,
        )

    def chat_stream(
        self,
        *,
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str = "",
        keepalive_s: float = 15.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one chat turn (``POST /chat``); the turn survives the consumer."""
        return self.chat_runner.stream(
            user_id=user_id,
            session_id=session_id,
            message=message,
            trace_id=trace_id,
            keepalive_s=keepalive_s,
        )

    async def smart_search(
        self,
        *,
        user_id: str,
        query: str,
        top_k: int = 5,
        session_id: str | None = None,
        include_graph: bool = True,
        include_skills: bool = True,
        synthesize: bool = True,
        mode: str = "compact",
        reference_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Search plus synthesis (``POST /memory/smart-search``, modes raw|full|compact)."""
        return await self.operations.smart_search(
            user_id=user_id,
            query=query,
            top_k=top_k,
            session_id=session_id,
            include_graph=include_graph,
            include_skills=include_skills,
            synthesize=synthesize,
            mode=mode,
            reference_time=reference_time,
        )

    async def synthesize(
        self,
        *,
        user_id: str,
        user_query: str,
        semantic_results: Sequence[dict[str, Any]] = (),
        graph_results: Sequence[dict[str, Any]] = (),
        skill_results: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """Fuse client-supplied retrieval results (``POST /memory/synthesize``)."""
        return await self.operations.synthesize(
            user_query=user_query,
            semantic_results=semantic_results,
            graph_results=graph_results,
            skill_results=skill_results,
        )

    async def reason(
        self,
        *,
        user_id: str,
        session_id: str,
        user_query: str,
        background_context: str = "",
        skill_reuse_plan: Sequence[dict[str, Any]] = (),
        retrieved_skills: Sequence[dict[str, Any]] = (),
        append_to_session: bool = True,
    ) -> dict[str, Any]:
        """Answer over a prepared context (``POST /memory/reason``)."""
        return await self.operations.reason(
            user_id=user_id,
            session_id=session_id,
            user_query=user_query,
            background_context=background_context,
            skill_reuse_plan=skill_reuse_plan,
            retrieved_skills=retrieved_skills,
            append_to_session=append_to_session,
        )

    async def feedback(
        self,
        *,
        user_id: str,
        usage_log_id: str | None = None,
        session_id: str | None = None,
        feedback: str,
        record_ids: Sequence[str] | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Explicit outcome feedback on a retrieval (``POST /memory/feedback``)."""
        return await self.operations.feedback(
            user_id=user_id,
            usage_log_id=usage_log_id,
            session_id=session_id,
            feedback=feedback,
            record_ids=record_ids,
            note=note,
        )
