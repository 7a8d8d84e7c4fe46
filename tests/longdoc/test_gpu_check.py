"""bench/longdoc/gpu_check.py: what can be checked without a GPU.

The CUDA run itself needs a lent GPU; here: the refusal without CUDA, argument checks, the
tokenizer and random model it builds (loaded by the real transformers backend on the CPU), and
the JSON rows and PNG it writes from a real ``run.py`` result (heuristic backend).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "longdoc" / "gpu_check.py"

sys.path.insert(0, str(SCRIPT.parent))
import gpu_check  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_refuses_in_one_line_without_cuda(tmp_path: Path) -> None:
    result = _run("--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "CUDA" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["--questions", "5"], ["--lengths", "32k"], ["--preset", "tiny"]])
def test_rejects_bad_arguments(args: list[str]) -> None:
    result = _run(*args)
    assert result.returncode == 2 and "usage:" in result.stderr


def test_defaults_are_the_documented_check() -> None:
    args = gpu_check.parse_args([])
    assert args.length_list == [32_000, 128_000] and args.preset == "1b"
    config = gpu_check.model_config("1b")
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        16,
        2048,
        32_000,
    )


@pytest.mark.anyio
async def test_built_model_loads_in_the_transformers_backend(tmp_path: Path) -> None:
    from lycheemem.longdoc.backends.transformers_backend import TransformersModel

    texts = [gpu_check.build_haystack(3000, seed=1).text]
    tokenizer = gpu_check.build_tokenizer(texts, tmp_path, vocab_size=600)
    assert len(tokenizer) <= 600 and tokenizer.eos_token == "</s>"
    count = gpu_check.build_model("tiny", tmp_path, len(tokenizer), "cpu", seed=3)
    assert count > 0 and (tmp_path / "config.json").is_file()
    model = TransformersModel(tmp_path, device="cpu", batch_size=2, context_tokens=1024)
    notes = await model.compress([texts[0][:400]], max_tokens=[4])
    assert notes[0].completion_tokens <= 4 and notes[0].prompt_tokens > 0
    await model.close()


@pytest.mark.timeout(300)
def test_rows_and_plot_from_a_real_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [
        sys.executable,
        str(SCRIPT.parent / "run.py"),
        "--backend=heuristic",
        "--lengths=8000",
        "--methods=lychee,memagent",
        "--fillers=synthetic",
        "--questions=1",
        f"--out={tmp_path}",
    ]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=240)
    results = json.loads((tmp_path / "results.json").read_text())["synthetic"]
    assert len(results[0]["methods"]["lychee"]["questions"]) == 1
    rows = gpu_check.summarize(results)
    assert [row["method"] for row in rows] == ["lychee", "memagent"]
    assert all(row["peak_cuda_mb"] is None and row["tokens_processed"] > 0 for row in rows)
    gpu_check.plot(rows, tmp_path / "gpu_check.png", "test")
    assert (tmp_path / "gpu_check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
