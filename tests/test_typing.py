"""mypy passes on the package: strict on domain, retrieval, consolidation and services, clean
everywhere else (configuration in pyproject.toml, ``[tool.mypy]``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    """``mypy`` (as ``make lint`` runs it) reports no error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_strict_packages_are_configured() -> None:
    """The four design layers stay under the strict flags (a config edit cannot drop one)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    strict = next(o for o in config["overrides"] if o.get("disallow_untyped_defs"))
    assert set(strict["module"]) == {
        f"lycheemem.{name}.*" for name in ("domain", "retrieval", "consolidation", "services")
    }
    assert strict["disallow_any_generics"] and strict["warn_return_any"]
