"""``/memory/export``, ``/memory/import`` and ``/memory/all``: move or wipe a whole namespace."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import AllDeleted, ImportReportPublic
from lycheemem.errors import BadRequest

router = APIRouter(prefix="/memory", tags=["transfer"])


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The caller's memory as JSON Lines (a file download), header first.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
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


_EXPORT_EXAMPLE = "\n".join(
    [
        '{"type":"header","format":"lycheemem.export","version":1,'
        '"exported_at":"2026-01-05T10:00:00.000Z","embedding_model":"wordllama",'
        '"counts":{"records":1,"composites":0,"skills":0}}',
        '{"type":"record","record_id":"...","memory_type":"fact",'
        '"semantic_text":"The user backs up Postgres nightly with pg_dump.", ...}',
    ]
)
_IMPORT_BODY_DESCRIPTION = (
    "The JSON Lines file written by `GET /memory/export`, one JSON object per line. The first "
    'line must be the header (`"type": "header"`, `"format": "lycheemem.export"`, '
    '`"version": 1`); every later line has a `type` of `record`, `composite`, `skill`, '
    "`session`, `turn`, `summary` or `usage_log` and the fields the export wrote. Send it as "
    "`application/x-ndjson` (any content type is accepted; the body is read as UTF-8 lines). "
    "Ids are recomputed for the caller, so an export of one user imports into another. "
    "Lines that fail are reported in `errors` with their line number; the rest are imported."
)
_IMPORT_OPENAPI = {
    "requestBody": {
        "required": True,
        "description": _IMPORT_BODY_DESCRIPTION,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string", "format": "binary"},
                "example": _EXPORT_EXAMPLE,
            }
        },
    }
}


@router.post(
    "/import",
    openapi_extra=_IMPORT_OPENAPI,
    response_model=ImportReportPublic,
    response_model_exclude_unset=True,
)
async def import_memory(
    request: Request,
    caller: CallerDep,
    ctx: ContextDep,
    mode: Literal["merge", "replace"] = "merge",
) -> dict[str, Any]:
    """Import a JSONL export into the caller's namespace (ids recomputed for the caller).

    ``mode=merge`` (default) keeps what is there; ``replace`` deletes the namespace first.
    Answers ``{"imported": {type: count}, "skipped": n, "errors": [{"line", "error"}]}``;
    429 with ``Retry-After`` while ``LYCHEEMEM_MAX_CONCURRENT_IMPORTS`` imports run.
    """
    # Admitted before the body is read: a refused import never holds its body in memory.
    with ctx.manage.import_admission():
        body = await request.body()
        report = await ctx.manage.import_jsonl(user_id=caller.user_id, body=body, mode=mode)
    return report.as_dict()


@router.delete("/all", response_model=AllDeleted, response_model_exclude_unset=True)
async def delete_all(caller: CallerDep, ctx: ContextDep, confirm: bool = False) -> dict[str, Any]:
    """Delete everything in the caller's namespace; requires ``confirm=true``."""
    if not confirm:
        raise BadRequest("Deleting all memory requires confirm=true")
    deleted = await ctx.manage.delete_all(user_id=caller.user_id)
    return {"deleted": deleted}
