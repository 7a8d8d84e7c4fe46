"""``/pipeline/*``: per-caller status and the last consolidation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.schemas import SESSION_ID_PATTERN

router = APIRouter(prefix="/pipeline", tags=["pipeline"])


@router.get("/last-consolidation")
async def last_consolidation(
    caller: CallerDep,
    ctx: ContextDep,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
) -> dict[str, Any]:
    """The caller's most recent consolidation job (of that session, if given)."""
    return await ctx.service.last_consolidation(user_id=caller.user_id, session_id=session_id)
