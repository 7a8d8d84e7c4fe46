"""``/memory/records``: browse, inspect and hard-delete the caller's records and composites."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import MemoryItemDetail, RecordsDeleted, RecordsPublic
from lycheemem.api.schemas import SESSION_ID_PATTERN, Offset

router = APIRouter(prefix="/memory", tags=["records"])

ItemIdPath = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/records", response_model=RecordsPublic, response_model_exclude_unset=True)
async def list_records(
    caller: CallerDep,
    ctx: ContextDep,
    kind: Literal["record", "composite", "all"] = "all",
    memory_type: Annotated[str | None, Query(max_length=64)] = None,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
    include_expired: bool = False,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    order: Literal["updated_desc", "created_desc", "created_asc"] = "updated_desc",
) -> dict[str, Any]:
    """A page of the caller's memory items with the overall total."""
    page = await ctx.manage.list_items(
        user_id=caller.user_id,
        kind=kind,
        memory_type=memory_type or None,
        session_id=session_id,
        include_expired=include_expired,
        q=(q or "").strip() or None,
        order=order,
        offset=offset,
        limit=limit,
    )
    return {"items": page.items, "total": page.total, "offset": offset, "limit": limit}


@router.get(
    "/records/{item_id}", response_model=MemoryItemDetail, response_model_exclude_unset=True
)
async def get_record(item_id: ItemIdPath, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """One record or composite with its parents, children and history."""
    return await ctx.manage.get_item(user_id=caller.user_id, item_id=item_id)


@router.delete(
    "/records/{item_id}", response_model=RecordsDeleted, response_model_exclude_unset=True
)
async def delete_record(item_id: ItemIdPath, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Hard-delete an item, its vectors and every composite that contains it."""
    deleted = await ctx.manage.delete_item(user_id=caller.user_id, item_id=item_id)
    return {"deleted_ids": deleted, "deleted_count": len(deleted)}
