"""``/memory/*`` write routes."""

from __future__ import annotations

from fastapi import APIRouter

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.schemas import TurnAppended, TurnCreate

router = APIRouter(prefix="/memory", tags=["memory"])


@router.post("/append-turn", response_model=TurnAppended)
async def append_turn(body: TurnCreate, caller: CallerDep, ctx: ContextDep) -> TurnAppended:
    """Mirror one user or assistant turn into the caller's session."""
    outcome = await ctx.service.append_turn(
        user_id=caller.user_id,
        session_id=body.session_id,
        role=body.role,
        content=body.content,
        token_count=body.token_count,
        turn_id=body.turn_id,
        created_at=body.created_at,
        speaker=body.speaker,
        metadata=body.metadata,
    )
    return TurnAppended(
        status=outcome.status,  # type: ignore[arg-type]
        session_id=body.session_id,
        turn_count=outcome.turn_count,
        turn_index=outcome.turn_index,
        turn_id=outcome.turn_id,
    )
