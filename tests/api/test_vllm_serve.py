"""``lycheemem vllm-serve``: refusals without vLLM or a GPU, the exact command, /health waiting."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_cli_errors import assert_one_line_error, run_cli

from lycheemem.errors import ConfigError
from lycheemem.longdoc.config import load_longdoc_settings
from lycheemem.vllm_serve import VllmServeOptions, vllm_command, wait_for_health


def test_refuses_in_one_line_when_vllm_is_missing(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "vllm-serve", "--model", "/models/x")
    assert_one_line_error(result, "vllm is not installed", "lycheemem[vllm]")


def test_refuses_in_one_line_when_no_gpu_is_visible(tmp_path: Path) -> None:
    # An importable (never started) `vllm` package gets past the first check.
    stub = tmp_path / "stub" / "vllm"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    pythonpath = f"{Path(__file__).resolve().parents[2] / 'src'}:{stub.parent}"
    result = run_cli(
        tmp_path,
        "vllm-serve",
        "--model",
        "/models/x",
        PYTHONPATH=pythonpath,
        CUDA_VISIBLE_DEVICES="",
    )
    assert_one_line_error(result, "no NVIDIA GPU is visible")


def test_dry_run_prints_the_command_and_settings_the_reasoner_needs(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "vllm-serve", "--model", "/models/q", "--port", "8011", "--dry-run", "--seed=3"
    )
    assert result.returncode == 0, result.stderr
    command, *settings = result.stdout.strip().splitlines()
    for flag in (
        "vllm.entrypoints.openai.api_server",
        "--model=/models/q",
        "--port=8011",
        "--enable-prefix-caching",
        "--max-logprobs=20",
        "--max-model-len=32768",
        "--served-model-name=lychee-longdoc",
        "--seed=3",  # unknown flags go to vLLM
    ):
        assert flag in command.split(), flag
    values = dict(line.split("=", 1) for line in settings)
    assert values["LYCHEEMEM_LONGDOC_BASE_URL"] == "http://127.0.0.1:8011/v1"
    longdoc = load_longdoc_settings(
        env_file=None,
        **{key.removeprefix("LYCHEEMEM_LONGDOC_").lower(): v for key, v in values.items()},
    )
    assert (longdoc.backend, longdoc.model, longdoc.context_tokens) == (
        "vllm",
        "lychee-longdoc",
        32768,
    )


def test_wildcard_bind_address_gives_a_loopback_base_url() -> None:
    options = VllmServeOptions(model="m", host="0.0.0.0", port=9000)
    assert options.base_url == "http://127.0.0.1:9000/v1"
    assert "--host=0.0.0.0" in vllm_command(options)


class _Health(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).calls += 1
        self.send_response(200 if type(self).calls >= 3 else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    """A real HTTP server whose /health answers 503 twice, then 200."""
    _Health.calls = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def _process(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_wait_for_health_polls_until_200(health_server: str) -> None:
    process = _process("import time; time.sleep(60)")
    try:
        wait_for_health(health_server, process, timeout_s=30)
    finally:
        process.kill()
        process.wait()
    assert _Health.calls == 3


def test_wait_for_health_stops_when_the_server_exits(health_server: str) -> None:
    process = _process("raise SystemExit(3)")
    process.wait()
    with pytest.raises(ConfigError, match="exited with code 3"):
        wait_for_health(health_server, process, timeout_s=30)
