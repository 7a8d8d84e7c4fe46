"""Every code block in the README runs as pasted, against a live server (docs that cannot drift).

Blocks run in README order against one memory-only uvicorn server on 127.0.0.1; the README's
``http://127.0.0.1:8000`` / ``localhost:8000`` are replaced by that server's address. A block
that cannot run here (it needs Docker, a GPU or another program) is preceded by
``<!-- readme-test: skip: <reason> -->`` and the reason is required; a block preceded by
``<!-- readme-test: expect: <text> -->`` must print that text. ``json`` blocks must parse.
Error bodies carry a ``trace_id``, so any block that printed one made a failing request.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

sys.path.insert(0, str(ROOT / "tests" / "mcp"))
from mcp_support import LiveServer, run_server  # noqa: E402

pytestmark = pytest.mark.e2e

_BLOCK = re.compile(
    r"(?:^<!-- readme-test: (?P<directive>[^\n]*?) -->\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```",
    re.S | re.M,
)
RUNNERS = {"": "bash", "bash": "bash", "sh": "bash", "python": "python", "json": "json"}


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced code block of the README."""

    line: int
    lang: str
    code: str
    directive: str

    @property
    def skipped(self) -> bool:
        """Marked as not runnable here."""
        return self.directive.startswith("skip:")

    @property
    def expected(self) -> str:
        """Text the block must print (empty when none is declared)."""
        return (
            self.directive.removeprefix("expect:").strip()
            if self.directive.startswith("expect:")
            else ""
        )

    @property
    def label(self) -> str:
        """Where it is, for test ids and messages."""
        return f"README.md:{self.line}:{self.lang or 'text'}"


def readme_blocks() -> list[Block]:
    """The README's fenced blocks in order."""
    text = README.read_text()
    return [
        Block(
            line=text.count("\n", 0, match.start("code")),
            lang=match.group("lang"),
            code=match.group("code"),
            directive=(match.group("directive") or "").strip(),
        )
        for match in _BLOCK.finditer(text)
    ]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("readme")) as server:
        yield server


def _point_at(code: str, base: str) -> str:
    return code.replace("http://127.0.0.1:8000", base).replace(
        "localhost:8000", base.removeprefix("http://")
    )


def _run(block: Block, base: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    code = _point_at(block.code, base)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if RUNNERS[block.lang] == "python":
        command = [sys.executable, "-c", code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", code]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=workdir, env=env, check=False
    )


def test_every_block_is_runnable_or_says_why_not() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        if block.directive:
            assert re.fullmatch(r"(skip|expect): \S.*", block.directive), block.label
        if not block.skipped:
            assert block.lang in RUNNERS, f"{block.label}: mark it or use a runnable language"


@pytest.mark.timeout(600)
def test_readme_blocks_run_as_pasted(live: LiveServer, tmp_path: Path) -> None:
    ran = 0
    for block in readme_blocks():
        if block.skipped:
            continue
        if block.lang == "json":
            json.loads(block.code)
            continue
        result = _run(block, live.base, tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{block.label} failed:\n{block.code}\n{output}"
        assert "trace_id" not in output and "Traceback" not in output, f"{block.label}:\n{output}"
        assert block.expected in result.stdout, f"{block.label}: no {block.expected!r} in\n{output}"
        ran += 1
    assert ran >= 4
