"""``create_app(settings)``: the FastAPI application with its lifespan."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Scope

from lycheemem import __version__
from lycheemem.api.docs import install_offline_docs
from lycheemem.api.errors import install_error_handlers
from lycheemem.api.middleware import BodyLimitMiddleware, TraceIdMiddleware
from lycheemem.api.routes import (
    auth,
    chat,
    demo,
    graph,
    memory,
    ops,
    pipeline,
    records,
    sessions,
    skills,
    transfer,
)
from lycheemem.bootstrap import AppContext, build_context
from lycheemem.config import Settings, load_settings
from lycheemem.domain.ports import LLM, Embedder
from lycheemem.mcp.server import MCP_MAX_BODY_BYTES, MCP_PATH, mount_mcp

__all__ = ["create_app", "openapi_document"]

log = logging.getLogger(__name__)

CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "MCP-Protocol-Version",
    "Last-Event-ID",
    "X-Trace-ID",
]


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _demo_dir(settings: Settings) -> Path:
    return Path(settings.demo_dir) if settings.demo_dir else Path("web-demo/dist")


def create_app(
    settings: Settings | None = None,
    *,
    llm: LLM | None = None,
    embedder: Embedder | None = None,
    longdoc_settings: Any = None,
) -> FastAPI:
    """Build the app; nothing is opened until the lifespan starts.

    ``llm`` and ``embedder`` replace the configured providers (tests only).
    """
    from lycheemem.longdoc import load_longdoc_settings
    from lycheemem.longdoc.api import router as longdoc_router

    settings = settings or load_settings()
    longdoc_settings = longdoc_settings or load_longdoc_settings()
    ctx: AppContext = build_context(
        settings, llm=llm, embedder=embedder, longdoc_settings=longdoc_settings
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await ctx.open()
            app.state.ctx = ctx
            # A mounted app's own lifespan never runs: the MCP session manager lives here.
            async with mcp.run():
                yield
        finally:
            await ctx.close()

    app = FastAPI(
        title="LycheeMem",
        version=__version__,
        lifespan=lifespan,
        # /docs and /redoc come from install_offline_docs (no CDN), not FastAPI's defaults.
        docs_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        redoc_url=None,
    )
    app.state.ctx = None
    app.state.demo_dir = _demo_dir(settings)
    install_error_handlers(app)
    routers = (ops, auth, sessions, memory, records, graph, skills, transfer, chat, pipeline, demo)
    for module in routers:
        app.include_router(module.router)
    app.include_router(longdoc_router)
    if settings.docs_enabled:
        install_offline_docs(app)
    # Must stay last: the MCP app is mounted at "/" so the endpoint is exactly /mcp.
    mcp = mount_mcp(app, ctx, settings)

    def on_request(scope: Scope, status: int, seconds: float) -> None:
        route = _route_label(scope)
        ctx.metrics.http_requests.labels(scope.get("method", ""), route, str(status)).inc()
        ctx.metrics.http_duration.labels(route).observe(seconds)

    document_limit = max(settings.max_body_bytes, int(longdoc_settings.max_doc_bytes * 1.1))

    def limit_for(path: str) -> int:
        if path == "/memory/import":
            return settings.max_import_bytes
        if path == "/longdoc/documents":
            return document_limit
        if path == MCP_PATH:
            return MCP_MAX_BODY_BYTES
        return settings.max_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_HEADERS,
        expose_headers=["Mcp-Session-Id", "X-Trace-ID"],
    )
    app.add_middleware(TraceIdMiddleware, on_request=on_request)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the app, built offline: no server, no data opened.

    Uses default settings (``.env`` and ``LYCHEEMEM_*`` ignored) so the document is the same
    on every machine; the web demo's ``types.gen.ts`` is generated from it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env_file=None, data_dir=Path(tmp) / "data", docs_enabled=True)
        return create_app(settings).openapi()
