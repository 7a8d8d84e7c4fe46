"""``/pipeline/*``: per-caller status and the last consolidation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lycheemem import __version__
from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import ConsolidationPublic, PipelineStatusPublic
from lycheemem.api.schemas import SESSION_ID_PATTERN

router = APIRouter(prefix="/pipeline", tags=["pipeline"])


@router.get(
    "/last-consolidation", response_model=ConsolidationPublic, response_model_exclude_unset=True
)
async def last_consolidation(
    caller: CallerDep,
    ctx: ContextDep,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
) -> dict[str, Any]:
    """The caller's most recent consolidation job (of that session, if given)."""
    return await ctx.service.last_consolidation(user_id=caller.user_id, session_id=session_id)


@router.get("/status", response_model=PipelineStatusPublic, response_model_exclude_unset=True)
async def status(caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """The caller's memory counts and jobs, plus the server's mode and models."""
    counts = await ctx.manage.status_counts(user_id=caller.user_id)
    llm_model = getattr(ctx.llm, "model", None) or ctx.settings.llm_model or None
    return {
        **counts,
        "mode": ctx.mode,
        "llm_model": llm_model,
        "embedding_model": ctx.embedder.model_name,
        "version": __version__,
    }
