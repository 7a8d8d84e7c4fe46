"""First-run mistakes end ``python main.py`` with one line on stderr and exit code 2.

Each case runs the real command line in a subprocess, in an empty working directory (no
``.env``) with a clean environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python main.py ARGS`` with only ``env`` as LycheeMem settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEEMEM_")}
    clean |= {"PYTHONPATH": str(ROOT / "src"), "LYCHEEMEM_DATA_DIR": str(tmp_path / "data")}
    clean |= env
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit code 2, a single ``error:`` line naming every fragment, and no traceback."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port with a listening socket on 127.0.0.1."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    result = run_cli(tmp_path, "serve", LYCHEEMEM_DATA_DIR=str(target))
    assert_one_line_error(result, "LYCHEEMEM_DATA_DIR", "not a directory")


def test_data_dir_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    result = run_cli(tmp_path, LYCHEEMEM_DATA_DIR=str(tmp_path / "a-file" / "data"))
    assert_one_line_error(result, "LYCHEEMEM_DATA_DIR", "cannot be created")


def test_data_dir_that_is_not_writable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through file modes; sysfs refuses new files even to root
        target = Path("/sys")
    else:
        target = tmp_path / "read-only"
        target.mkdir(mode=0o500)
    result = run_cli(tmp_path, "serve", LYCHEEMEM_DATA_DIR=str(target))
    assert_one_line_error(result, "LYCHEEMEM_DATA_DIR", "not writable")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LYCHEEMEM_LONGDOC_BACKEND": "vllm"}, ["_BASE_URL", "LYCHEEMEM_LONGDOC_MODEL"]),
        (
            {"LYCHEEMEM_LONGDOC_BACKEND": "vllm", "LYCHEEMEM_LONGDOC_MODEL": "m"},
            ["LYCHEEMEM_LONGDOC_BASE_URL"],
        ),
        ({"LYCHEEMEM_LONGDOC_BACKEND": "transformers"}, ["LYCHEEMEM_LONGDOC_MODEL_PATH"]),
    ],
)
def test_longdoc_backend_without_its_settings(
    tmp_path: Path, env: dict[str, str], names: list[str]
) -> None:
    result = run_cli(tmp_path, "serve", **env)
    assert_one_line_error(result, *names)
    assert "LONGDOC_SETTINGS" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_port_in_use_is_refused_before_start_up(tmp_path: Path, busy_port: int) -> None:
    result = run_cli(tmp_path, "serve", "--port", str(busy_port))
    assert_one_line_error(result, f"port {busy_port}", "already in use", "LYCHEEMEM_PORT")
    assert not (tmp_path / "data" / "lycheemem.db").exists()


def test_invalid_setting_names_the_variable(tmp_path: Path) -> None:
    result = run_cli(tmp_path, LYCHEEMEM_SQLITE_SYNCHRONOUS="SOMETIMES")
    assert_one_line_error(result, "LYCHEEMEM_SQLITE_SYNCHRONOUS")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"LYCHEEMEM_EMBEDDING_DIM": "-4"}, "LYCHEEMEM_EMBEDDING_DIM"),
        ({"LYCHEEMEM_EMBEDDING_DIM": "100"}, "LYCHEEMEM_EMBEDDING_DIM=100"),
        ({"LYCHEEMEM_DATA_DIR": "/sys"}, "LYCHEEMEM_DATA_DIR"),
    ],
)
def test_reindex_with_bad_settings(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    result = run_cli(tmp_path, "reindex", **env)
    assert_one_line_error(result, fragment)


def test_unknown_argument_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--prot", "9000")
    assert result.returncode == 2 and "unrecognized arguments: --prot" in result.stderr
