"""``/docs`` and ``/redoc`` render in headless Chromium with every non-loopback host unreachable.

Chromium's resolver maps every host except 127.0.0.1 to NOTFOUND, so a page that needed a CDN
would stay blank; a control page that loads Swagger UI from its CDN proves the block holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

sys.path.insert(0, str(ROOT / "tests" / "mcp"))
from mcp_support import LiveServer, run_server, skip_unless_ci  # noqa: E402

pytestmark = pytest.mark.e2e


def _chromium() -> str:
    candidates = (os.environ.get("CHROMIUM_PATH", ""), *CHROMIUM_CANDIDATES)
    found = next((path for path in candidates if path and os.access(path, os.X_OK)), None)
    if found is None:
        skip_unless_ci("no Chromium found (set CHROMIUM_PATH or apt-get install chromium)")
    return str(found)


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` after scripts ran, in a headless Chromium with no outside network."""
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("docs")) as server:
        yield server


@pytest.mark.timeout(240)
def test_swagger_ui_renders_the_operations_offline(live: LiveServer, tmp_path: Path) -> None:
    dom = rendered_dom(f"{live.base}/docs", tmp_path / "profile")
    assert "opblock" in dom, dom[:2000]
    for path in ("/memory/smart-search", "/memory/import", "/longdoc/ask", "/auth/register"):
        assert f'data-path="{path}"' in dom, path
    assert "https://" not in dom.split("<body", 1)[0]  # nothing in <head> points off the server


@pytest.mark.timeout(240)
def test_redoc_renders_offline(live: LiveServer, tmp_path: Path) -> None:
    dom = rendered_dom(f"{live.base}/redoc", tmp_path / "profile")
    assert "/memory/smart-search" in dom and "Append Turn" in dom, dom[:2000]


@pytest.mark.timeout(240)
def test_control_a_cdn_script_does_not_load(tmp_path: Path) -> None:
    page = tmp_path / "cdn.html"
    page.write_text(
        "<html><body><p id='out'>pending</p>"
        "<script src='https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js'></script>"
        "<script>document.getElementById('out').textContent = typeof SwaggerUIBundle;</script>"
        "</body></html>"
    )
    dom = rendered_dom(page.as_uri(), tmp_path / "profile")
    assert '<p id="out">undefined</p>' in dom, dom
