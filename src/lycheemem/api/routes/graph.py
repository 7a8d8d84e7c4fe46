"""``/memory/graph``: the caller's memory tree, its full-text search, and clearing it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import GraphClearedPublic, GraphSearchPublic, MemoryGraphPublic
from lycheemem.errors import ValidationFailed

router = APIRouter(prefix="/memory/graph", tags=["graph"])


@router.get("", response_model=MemoryGraphPublic, response_model_exclude_unset=True)
async def graph(
    caller: CallerDep,
    ctx: ContextDep,
    mode: Literal["cleaned", "debug"] = "cleaned",
    include_expired: bool = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 2000,
) -> dict[str, Any]:
    """Nodes, edges (never dangling) and tree roots of the caller's memory."""
    return await ctx.manage.graph(
        user_id=caller.user_id, mode=mode, include_expired=include_expired, limit=limit
    )


@router.get("/search", response_model=GraphSearchPublic, response_model_exclude_unset=True)
async def graph_search(
    caller: CallerDep,
    ctx: ContextDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    top_k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Active items matching ``q`` in full text, as anchor nodes."""
    text = q.strip()
    if not text:
        raise ValidationFailed("q must not be empty")
    return await ctx.manage.graph_search(user_id=caller.user_id, q=text, top_k=top_k)


@router.delete("/clear", response_model=GraphClearedPublic, response_model_exclude_unset=True)
async def clear_graph(caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Delete the caller's records, composites and usage logs (not skills or sessions)."""
    cleared = await ctx.manage.clear_graph(user_id=caller.user_id)
    return {
        "message": "Semantic memory cleared",
        "records_deleted": cleared.records_deleted,
        "composites_deleted": cleared.composites_deleted,
        "usage_logs_deleted": cleared.usage_logs_deleted,
    }
