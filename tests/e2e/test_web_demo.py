"""The web demo's browser suite (INTEGRATIONS.md §5.3) against a real memory-only server.

The node suite runs one scenario at desktop (1280x800) and phone (390x844) sizes and a short
tablet one, checks every screen with axe-core and saves screenshots in
``web-demo/test-results/``. Builds nothing: ``scripts/prepare-demo-tests.sh`` (run by
``make test``) installs Chromium, runs ``npm ci`` and builds ``web-demo/dist``. This test
serves that build from a live uvicorn server on 127.0.0.1 with a temp data dir and runs
``npm run test:e2e`` in ``web-demo/`` against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "web-demo"
# Read at import: the suite's autouse fixture clears LYCHEEMEM_* variables before each test.
DEMO_DIR_OVERRIDE = os.environ.get("LYCHEEMEM_DEMO_DIR")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

sys.path.insert(0, str(ROOT / "tests" / "mcp"))
from mcp_support import run_server, skip_unless_ci  # noqa: E402

pytestmark = pytest.mark.e2e


def _chromium() -> str | None:
    candidates = (os.environ.get("CHROMIUM_PATH", ""), *CHROMIUM_CANDIDATES)
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def _demo_dir() -> Path:
    return Path(DEMO_DIR_OVERRIDE) if DEMO_DIR_OVERRIDE else DEMO / "dist"


def _skip_reason(demo_dir: Path) -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are required for the browser suite"
    for package in ("playwright-core", "axe-core"):
        if not (DEMO / "node_modules" / package).is_dir():
            return f"web-demo/node_modules/{package} is missing: run scripts/prepare-demo-tests.sh"
    if not (demo_dir / "index.html").is_file():
        return f"{demo_dir} is not built: run `make demo` or scripts/prepare-demo-tests.sh"
    if _chromium() is None:
        return "no Chromium found (set CHROMIUM_PATH or apt-get install chromium)"
    return None


@pytest.mark.timeout(600)
def test_browser_suite(tmp_path: Path) -> None:
    demo_dir = _demo_dir().resolve()
    reason = _skip_reason(demo_dir)
    if reason:
        skip_unless_ci(reason)
    env = {
        **os.environ,
        "CHROMIUM_PATH": _chromium() or "",
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NO_COLOR": "1",
    }
    with run_server(tmp_path, demo_dir=str(demo_dir)) as live:
        env["LYCHEEMEM_TEST_BASE_URL"] = live.base
        result = subprocess.run(
            ["npm", "run", "--silent", "test:e2e"],
            cwd=DEMO,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
            check=False,
        )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"browser suite failed (exit {result.returncode}):\n{output}"
    assert "# fail 0" in output and "# skipped 0" in output, output
