"""Operational routes: health, readiness, metrics and the root."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from lycheemem import __version__
from lycheemem.api.responses import HealthPublic, ReadinessPublic
from lycheemem.errors import Forbidden

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=HealthPublic)
async def health() -> dict[str, str]:
    """Cheap liveness check: 200 while the process runs."""
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A required dependency failed"}},
)
async def ready(request: Request) -> JSONResponse:
    """Readiness: every dependency checked; 503 when any required one fails."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None or not ctx.ready:
        return JSONResponse({"status": "not_ready", "checks": {"startup": "pending"}}, 503)
    checks = await ctx.readiness_checks()
    failed = any(value.startswith("error") for value in checks.values())
    body = {"status": "not_ready" if failed else "ready", "checks": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format 0.0.4"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics; bearer ``LYCHEEMEM_METRICS_TOKEN`` required when set."""
    ctx = request.app.state.ctx
    token = ctx.settings.metrics_token
    if token and request.headers.get("authorization", "") != f"Bearer {token}":
        raise Forbidden("A valid metrics token is required")
    await ctx.refresh_gauges()
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/", include_in_schema=False, response_model=None)
async def root(request: Request) -> Any:
    """Redirect to the demo when it is built, else describe the server."""
    demo_dir = request.app.state.demo_dir
    if demo_dir is not None and (demo_dir / "index.html").is_file():
        return RedirectResponse("/demo/", status_code=307)
    return {"name": "lycheemem", "version": __version__, "docs": "/docs"}
