"""The OpenClaw plugin's npm suite against a real server (INTEGRATIONS.md §4.8).

Starts uvicorn on 127.0.0.1 with a temp data dir, registers two users and runs
``npm test`` in ``openclaw-plugin/`` with the server URL and both tokens.
Skipped only when node/npm or the plugin's ``node_modules`` are missing
(``scripts/prepare-plugin-tests.sh`` installs them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The live-server helper of the MCP tests (tests/mcp has no package, like every test folder).
sys.path.append(str(Path(__file__).resolve().parents[1] / "mcp"))
sys.path.append(str(Path(__file__).resolve().parent))
from mcp_support import run_server, skip_unless_ci  # noqa: E402
from openclaw_support import PLUGIN_DIR, node_env  # noqa: E402


def _missing_tooling() -> str | None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (PLUGIN_DIR / "node_modules").is_dir():
        return "openclaw-plugin/node_modules is missing; run scripts/prepare-plugin-tests.sh"
    return None


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_openclaw_plugin_suite(tmp_path: Path) -> None:
    """`npm test` passes against a live server with two registered users."""
    reason = _missing_tooling()
    if reason:
        skip_unless_ci(reason)
    with run_server(tmp_path) as live:
        env = node_env(
            LYCHEEMEM_TEST_BASE_URL=live.base,
            LYCHEEMEM_TEST_TOKEN_A=live.register("plugin-user-a"),
            LYCHEEMEM_TEST_TOKEN_B=live.register("plugin-user-b"),
        )
        completed = subprocess.run(
            ["npm", "test", "--silent"],
            cwd=PLUGIN_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"npm test failed:\n{output}"
    for transport in ("mcp", "http"):  # the live suites ran (they skip without the variables)
        suite = f"live server over {transport}"
        assert re.search(rf"^\s*(ok \d+ - |✔ ){suite}\b", output, re.MULTILINE), output
    assert not re.search(r"^\s*(ok \d+ - .*# SKIP|﹣ )", output, re.MULTILINE), output
