"""Session routes: list, read, delete, and edit metadata."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import (
    SessionDeleted,
    SessionMetaPublic,
    SessionsPublic,
    SessionViewPublic,
)
from lycheemem.api.schemas import SESSION_ID_PATTERN, Offset, SessionMetaUpdate
from lycheemem.domain.models import Summary, Turn

router = APIRouter(tags=["sessions"])

SessionPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


def turn_public(turn: Turn) -> dict[str, Any]:
    """The ``Turn`` object of API.md §5."""
    return {
        "turn_index": turn.turn_index,
        "role": turn.role,
        "content": turn.content,
        "speaker": turn.speaker,
        "turn_id": turn.turn_id,
        "metadata": turn.metadata,
        "token_count": turn.token_count,
        "created_at": turn.created_at,
        "compressed": turn.compressed,
        "deleted": turn.compressed,
    }


def summary_public(summary: Summary) -> dict[str, Any]:
    """A working-memory summary as returned by the session route."""
    return {
        "boundary_index": summary.boundary_index,
        "content": summary.content,
        "token_count": summary.token_count,
        "created_at": summary.created_at,
    }


@router.get("/sessions", response_model=SessionsPublic, response_model_exclude_unset=True)
async def list_sessions(
    caller: CallerDep,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The caller's sessions, most recently updated first, with the overall total."""
    items, total = await ctx.service.list_sessions(
        user_id=caller.user_id, offset=offset, limit=limit
    )
    sessions = []
    for item in items:
        session = item.session
        title = session.topic or (item.first_user_message[:40] or session.session_id)
        sessions.append(
            {
                "session_id": session.session_id,
                "turn_count": session.turn_count,
                "last_message": item.last_message[:120],
                "title": title,
                "topic": session.topic,
                "tags": session.tags,
                "created_at": session.created_at,
                "updated_at": session.updated_at,
                "consolidated_until": session.consolidated_until,
            }
        )
    return {"sessions": sessions, "total": total}


@router.get(
    "/memory/session/{session_id}",
    response_model=SessionViewPublic,
    response_model_exclude_unset=True,
)
async def get_session(
    session_id: SessionPath,
    caller: CallerDep,
    ctx: ContextDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    """One session's turns (a page), summaries and working-memory usage."""
    view = await ctx.service.session_view(
        user_id=caller.user_id, session_id=session_id, offset=offset, limit=limit
    )
    return {
        "session_id": view.session.session_id,
        "topic": view.session.topic,
        "tags": view.session.tags,
        "turns": [turn_public(turn) for turn in view.turns],
        "turn_count": view.session.turn_count,
        "active_turn_count": view.active_turn_count,
        "summaries": [summary_public(summary) for summary in view.summaries],
        "wm_max_tokens": view.wm_max_tokens,
        "wm_current_tokens": view.wm_current_tokens,
        "consolidated_until": view.session.consolidated_until,
        "feedback": view.feedback,
    }


@router.delete(
    "/memory/session/{session_id}", response_model=SessionDeleted, response_model_exclude_unset=True
)
async def delete_session(
    session_id: SessionPath,
    caller: CallerDep,
    ctx: ContextDep,
    forget_memories: bool = False,
) -> dict[str, Any]:
    """Delete a session with its turns, summaries, usage logs and pending jobs."""
    result = await ctx.service.delete_session(
        user_id=caller.user_id, session_id=session_id, forget_memories=forget_memories
    )
    return {
        "message": f"Session {session_id!r} deleted",
        "turns_deleted": result.turns_deleted,
        "records_deleted": result.records_deleted,
        "composites_deleted": result.composites_deleted,
    }


@router.patch(
    "/memory/session/{session_id}/meta",
    response_model=SessionMetaPublic,
    response_model_exclude_unset=True,
)
async def update_session_meta(
    session_id: SessionPath, body: SessionMetaUpdate, caller: CallerDep, ctx: ContextDep
) -> dict[str, Any]:
    """Set topic and/or tags; creates the session when it does not exist."""
    session = await ctx.service.update_session_meta(
        user_id=caller.user_id,
        session_id=session_id,
        topic=body.topic,
        tags=body.tags,
        set_topic="topic" in body.model_fields_set,
    )
    return {
        "message": "Session metadata updated",
        "session_id": session.session_id,
        "topic": session.topic,
        "tags": session.tags,
    }
