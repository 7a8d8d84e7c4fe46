"""``lycheemem vllm-serve``: start vLLM's OpenAI-compatible server for long-document QA.

The reasoner needs a few server flags: prefix caching (every gate and reasoner prompt of a question
shares a long prefix), log-probabilities (the gate reads the probability of "yes"), a context
length that fits a chunk plus the working memory, and a stable served model name that
``LYCHEEMEM_LONGDOC_MODEL`` can refer to. This module builds that command, checks that vLLM and a
GPU are there, waits for ``/health`` and prints the settings to paste into ``.env``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lycheemem.errors import ConfigError

__all__ = [
    "VllmServeOptions",
    "check_requirements",
    "longdoc_settings_lines",
    "run_vllm_server",
    "vllm_command",
    "wait_for_health",
]

DEFAULT_SERVED_NAME = "lychee-longdoc"


@dataclass(frozen=True, slots=True)
class VllmServeOptions:
    """What ``vllm-serve`` starts: model, address and the reasoner's server flags."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8001
    served_model_name: str = DEFAULT_SERVED_NAME
    max_model_len: int = 32_768
    gpu_memory_utilization: float = 0.9
    max_logprobs: int = 20

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use (ends in ``/v1``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/v1"


def vllm_command(options: VllmServeOptions, extra: list[str] | None = None) -> list[str]:
    """The exact command line of the vLLM server; ``extra`` flags go to vLLM unchanged."""
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        f"--model={options.model}",
        f"--served-model-name={options.served_model_name}",
        f"--host={options.host}",
        f"--port={options.port}",
        f"--max-model-len={options.max_model_len}",
        "--enable-prefix-caching",
        f"--max-logprobs={options.max_logprobs}",
        f"--gpu-memory-utilization={options.gpu_memory_utilization}",
        *(extra or []),
    ]


def longdoc_settings_lines(options: VllmServeOptions) -> list[str]:
    """The ``LYCHEEMEM_LONGDOC_*`` lines that point long-document QA at this server."""
    return [
        "LYCHEEMEM_LONGDOC_BACKEND=vllm",
        f"LYCHEEMEM_LONGDOC_BASE_URL={options.base_url}",
        f"LYCHEEMEM_LONGDOC_MODEL={options.served_model_name}",
        f"LYCHEEMEM_LONGDOC_CONTEXT_TOKENS={options.max_model_len}",
    ]


def _gpu_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    if any(Path("/dev").glob("nvidia[0-9]*")):
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and "GPU" in listed.stdout


def check_requirements() -> None:
    """Raise ``ConfigError`` when vLLM is not installed or no NVIDIA GPU is visible."""
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "vllm is not installed: pip install 'lycheemem[vllm]' (Linux with an NVIDIA GPU)"
        )
    if not _gpu_visible():
        raise ConfigError(
            "no NVIDIA GPU is visible (no /dev/nvidia*, nvidia-smi lists none, or "
            "CUDA_VISIBLE_DEVICES hides them): vLLM needs one"
        )


def wait_for_health(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; raise ``ConfigError`` if the process exits or time runs
    out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(f"the vLLM server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise ConfigError(f"the vLLM server did not answer {url} within {timeout_s:.0f} s")


def run_vllm_server(
    options: VllmServeOptions, extra: list[str], *, timeout_s: float, dry_run: bool
) -> int:
    """Start vLLM, wait until healthy, print the settings, then serve until interrupted.

    With ``dry_run`` only the command and the settings are printed (no checks, no start).
    """
    command = vllm_command(options, extra)
    if dry_run:
        print(" ".join(command))
        print("\n".join(longdoc_settings_lines(options)))
        return 0
    check_requirements()
    print(f"starting: {' '.join(command)}", file=sys.stderr, flush=True)
    process = subprocess.Popen(command)  # noqa: S603 - our own argument list
    try:
        health = options.base_url.removesuffix("/v1") + "/health"
        wait_for_health(health, process, timeout_s)
        print("vLLM is ready. Long-document settings for .env (or the environment):")
        print("\n".join(longdoc_settings_lines(options)), flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
