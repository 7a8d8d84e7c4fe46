"""``/memory/export``, ``/memory/import`` and ``/memory/all``: move or wipe a whole namespace."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.errors import BadRequest

router = APIRouter(prefix="/memory", tags=["transfer"])


@router.get("/export")
async def export_memory(
    caller: CallerDep,
    ctx: ContextDep,
    include_sessions: bool = False,
    include_usage_logs: bool = False,
) -> StreamingResponse:
    """Stream the caller's memory as JSON Lines, header first."""
    lines = ctx.manage.export_lines(
        user_id=caller.user_id,
        include_sessions=include_sessions,
        include_usage_logs=include_usage_logs,
    )
    day = ctx.clock.now().strftime("%Y%m%d")
    disposition = f'attachment; filename="lycheemem-export-{day}.jsonl"'
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": disposition},
    )


@router.post("/import")
async def import_memory(
    request: Request,
    caller: CallerDep,
    ctx: ContextDep,
    mode: Literal["merge", "replace"] = "merge",
) -> dict[str, Any]:
    """Import a JSONL export into the caller's namespace (ids recomputed for the caller)."""
    body = await request.body()
    report = await ctx.manage.import_jsonl(user_id=caller.user_id, body=body, mode=mode)
    return report.as_dict()


@router.delete("/all")
async def delete_all(caller: CallerDep, ctx: ContextDep, confirm: bool = False) -> dict[str, Any]:
    """Delete everything in the caller's namespace; requires ``confirm=true``."""
    if not confirm:
        raise BadRequest("Deleting all memory requires confirm=true")
    deleted = await ctx.manage.delete_all(user_id=caller.user_id)
    return {"deleted": deleted}
