"""``/demo``: the built web demo with SPA fallback, or a page explaining how to build it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

router = APIRouter(include_in_schema=False)

_NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>LycheeMem demo</title>
</head><body><h1>LycheeMem web demo is not built</h1>
<p>Run <code>make demo</code> (needs Node.js and npm) and reload this page.
The API is available at <a href="/docs">/docs</a>.</p></body></html>"""


def _resolve(root: Path, relative: str) -> Path | None:
    candidate = (root / relative).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


@router.get("/demo")
@router.get("/demo/{path:path}")
async def demo(request: Request, path: str = "") -> Response:
    """Serve a file of the built demo; unknown paths fall back to ``index.html``."""
    root: Path = request.app.state.demo_dir
    index = root / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT)
    target = _resolve(root, path) if path else None
    return FileResponse(target or index)
