"""Every script in examples/ runs against a live uvicorn server and does what it says.

The server is the real app on 127.0.0.1 in memory-only mode (no LLM), with a temp data dir;
each example is started as its own process, exactly as a user would run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

sys.path.insert(0, str(ROOT / "tests" / "mcp"))
from mcp_support import LiveServer, run_server, skip_unless_ci  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One memory-only server for all examples (each uses its own user or session ids)."""
    with run_server(tmp_path_factory.mktemp("examples")) as server:
        yield server


def run_example(*command: str) -> str:
    """Run an example to completion; assert exit code 0 and return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=240, env=env, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def python_example(name: str, *args: str) -> str:
    """Run ``examples/NAME`` with this interpreter."""
    return run_example(sys.executable, str(EXAMPLES / name), *args)


def test_every_example_is_covered() -> None:
    covered = {
        "api_pipeline_demo.py",
        "mcp_client_demo.py",
        "langgraph_agent.py",
        "longdoc_qa.py",
        "curl_quickstart.sh",
    }
    assert {path.name for path in EXAMPLES.iterdir() if path.is_file()} == covered


@pytest.mark.timeout(300)
def test_api_pipeline_demo_single_turn(live: LiveServer) -> None:
    out = python_example("api_pipeline_demo.py", "--base-url", live.base, "--sync-consolidate")
    assert "== register" in out and "== search" in out and "== reason" in out
    assert "memory-only mode" in out  # the reason step's honest stand-in answer
    assert "== last consolidation\ndone" in out
    # The second run logs in (409 on register) and recalls the first run's records.
    again = python_example(
        "api_pipeline_demo.py", "--base-url", live.base, "--no-consolidate", "--query", "ruff"
    )
    assert "== login" in again and "ruff and pytest" in again


@pytest.mark.timeout(300)
def test_api_pipeline_demo_multi_turn_recalls_in_a_new_session(live: LiveServer) -> None:
    out = python_example(
        "api_pipeline_demo.py", "--base-url", live.base, "--multi-turn", "--no-auth"
    )
    assert out.count("== turn") == 3 and "== new session" in out
    recall = out.split("== new session", 1)[1]
    assert "PostgreSQL" in recall and "(session" in out


def test_api_pipeline_demo_exits_1_when_the_server_is_down() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "api_pipeline_demo.py"),
            "--base-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "not reachable" in result.stderr


@pytest.mark.timeout(300)
def test_mcp_client_demo(live: LiveServer) -> None:
    out = python_example("mcp_client_demo.py", "--base-url", live.base, "--username", "mcp_demo")
    assert "lychee_memory_smart_search" in out.splitlines()[0]
    assert "consolidated: done" in out and "pg_dump" in out.split("background_context:", 1)[1]


@pytest.mark.timeout(300)
def test_langgraph_agent_remembers_across_sessions(live: LiveServer) -> None:
    out = python_example("langgraph_agent.py", "--base-url", live.base)
    later = out.split("consolidated", 1)[1]
    assert "Fly.io" in later and "Monday" in later


@pytest.mark.timeout(300)
def test_longdoc_qa_streams_gate_memory_and_answer(live: LiveServer) -> None:
    out = python_example("longdoc_qa.py", "--base-url", live.base)
    assert "ready" in out
    kinds = {line.split()[0] for line in out.splitlines() if line}
    assert {"gate", "memory", "answer", "done"} <= kinds
    assert "Lisbon" in out.split("answer", 1)[1]


@pytest.mark.timeout(300)
def test_longdoc_qa_with_a_file(live: LiveServer, tmp_path: Path) -> None:
    filler = "Note {n}: the kitchen rota and visitor badges were discussed."
    paragraphs = [filler.format(n=n) for n in range(300)]
    paragraphs.insert(120, "The server room key is kept by Priya Raman in the blue cabinet.")
    document = tmp_path / "notes.txt"
    document.write_text("\n\n".join(paragraphs))
    out = python_example(
        "longdoc_qa.py", str(document), "Who keeps the server room key?", "--base-url", live.base
    )
    assert "Priya" in out.split("answer", 1)[1]


@pytest.mark.timeout(300)
def test_curl_quickstart(live: LiveServer) -> None:
    if shutil.which("curl") is None:
        skip_unless_ci("curl is not installed")
    out = run_example("bash", str(EXAMPLES / "curl_quickstart.sh"), live.base)
    assert "done" in out and "pg_dump" in out
    assert '"type":"header"' in out and '"format":"lycheemem.export"' in out
