"""``/docs`` (Swagger UI) and ``/redoc`` served from assets installed with the package.

FastAPI's defaults load Swagger UI and ReDoc from a CDN, so offline they render a blank page.
The ``fastapi-offline`` wheel ships the same bundles (Swagger UI, its CSS, ReDoc standalone); they
are served under ``/docs-assets`` and the pages reference nothing outside the server.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "install_offline_docs"]

ASSETS_PATH = "/docs-assets"


def _assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def install_offline_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets to ``app``.

    Call before anything is mounted at ``/`` (the MCP app), so these paths win.
    """
    app.mount(ASSETS_PATH, StaticFiles(directory=_assets_dir()), name="docs-assets")

    def _url(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=_url(request, openapi_url),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=_url(request, f"{ASSETS_PATH}/swagger-ui-bundle.js"),
            swagger_css_url=_url(request, f"{ASSETS_PATH}/swagger-ui.css"),
            swagger_favicon_url=_url(request, f"{ASSETS_PATH}/favicon.png"),
            oauth2_redirect_url=_url(request, "/docs/oauth2-redirect"),
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=_url(request, openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=_url(request, f"{ASSETS_PATH}/redoc.standalone.js"),
            redoc_favicon_url=_url(request, f"{ASSETS_PATH}/favicon.png"),
            with_google_fonts=False,
        )
