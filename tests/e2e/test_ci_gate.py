"""Under CI the browser suite fails instead of skipping when its tooling is missing.

Runs ``tests/e2e/test_web_demo.py`` in a child pytest with the demo build pointed at an empty
folder (``LYCHEEMEM_DEMO_DIR``): on a developer machine that is a skip with a reason, with
``CI=true`` it must be a failure naming what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_demo_suite(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["LYCHEEMEM_DEMO_DIR"] = str(tmp_path / "not-built")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "e2e" / "test_web_demo.py"),
            "-rs",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(300)
def test_missing_demo_build_fails_under_ci_and_skips_otherwise(tmp_path: Path) -> None:
    on_ci = _run_demo_suite(tmp_path, "true")
    assert on_ci.returncode != 0, on_ci.stdout
    assert "required on CI" in on_ci.stdout and "is not built" in on_ci.stdout, on_ci.stdout

    local = _run_demo_suite(tmp_path, None)
    assert local.returncode == 0, local.stdout
    assert "1 skipped" in local.stdout and "is not built" in local.stdout, local.stdout
