"""GPU check of long-document QA: lychee vs memagent on the ``transformers`` backend, on CUDA.

    python bench/longdoc/gpu_check.py [--preset 1b] [--lengths 32000,128000] [--out DIR]

One prepared script for a CUDA machine that already has torch, transformers and matplotlib
(``pip install -e '.[longdoc,bench]'``) and may download nothing. No trained weights are
available offline, so it builds a real-size model with random weights:

- tokenizer: byte-level BPE (32,000 tokens) trained on the benchmark's own haystack text;
- model: a Llama-architecture causal LM of the chosen preset (``1b``: 16 layers, hidden 2,048,
  MLP 8,192, 32 heads / 8 KV heads, about 1.2 B parameters; ``8b``: 32 layers, hidden 4,096,
  MLP 14,336, 32 / 8 heads, about 7.5 B), bf16, randomly initialised with a fixed seed;

then runs ``bench/longdoc/run.py --backend transformers`` for ``lychee`` and ``memagent`` at each
length and writes ``gpu_check.json`` (time, tokens processed, model calls and peak CUDA memory
per method and length, plus the model config and device) and ``gpu_check.png`` under ``--out``.

Random weights almost never emit an end-of-sequence token, so every generation runs to its cap:
timings are a worst case for both methods alike, and the answers mean nothing. Without CUDA the
script stops at once with one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from haystack import build_haystack  # noqa: E402

VOCAB_SIZE = 32_000
PRESETS: dict[str, dict[str, int]] = {
    # only for the CPU tests of this script; never a measurement
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    },
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
    },
    "8b": {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
    },
}
METHODS = ("lychee", "memagent")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``tiny`` is not offered: it exists for tests only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="1b", choices=["1b", "8b"])
    parser.add_argument("--lengths", default="32000,128000", help="document sizes in tokens")
    parser.add_argument("--questions", type=int, default=1, help="questions per length (1-3)")
    parser.add_argument("--out", default=str(HERE / "gpu"), help="where the JSON and PNG go")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        args.length_list = [int(part) for part in args.lengths.split(",")]
    except ValueError:
        parser.error(f"--lengths must be comma-separated integers, not {args.lengths!r}")
    if not 1 <= args.questions <= 3:
        parser.error("--questions must be 1, 2 or 3")
    return args


def cuda_problem() -> str | None:
    """Why this machine cannot run the check, or None when torch sees a CUDA device."""
    try:
        import matplotlib  # noqa: F401
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install -e '.[longdoc,bench]' on the GPU machine"
    if not torch.cuda.is_available():
        return "no CUDA device is visible to torch: run this on a machine with an NVIDIA GPU"
    return None


def model_config(preset: str) -> dict[str, Any]:
    """The full Llama config of ``preset`` (the numbers reported with the results)."""
    return {
        "architecture": "LlamaForCausalLM",
        "vocab_size": VOCAB_SIZE,
        "max_position_embeddings": 131_072,
        "rope_theta": 500_000.0,
        "torch_dtype": "bfloat16",
        **PRESETS[preset],
    }


def build_tokenizer(texts: list[str], folder: Path, vocab_size: int = VOCAB_SIZE) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and save it to ``folder``."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    core = ByteLevelBPETokenizer()
    core.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=["<pad>", "</s>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core._tokenizer, pad_token="<pad>", eos_token="</s>"
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model(preset: str, folder: Path, vocab_size: int, device: str, seed: int) -> int:
    """Save a randomly initialised bf16 model of ``preset``; return its parameter count."""
    import torch
    import transformers

    config = {**model_config(preset), "vocab_size": vocab_size}
    llama = transformers.LlamaConfig(
        **{k: v for k, v in config.items() if k not in ("architecture", "torch_dtype")},
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.LlamaForCausalLM(llama).to(torch.bfloat16)
    model.save_pretrained(folder)
    count = sum(p.numel() for p in model.parameters())
    del model
    return count


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (length, method) from ``run.py``'s results.json."""
    rows = []
    for length in results:
        for method, measured in length["methods"].items():
            peak = measured.get("peak_cuda_bytes")
            rows.append(
                {
                    "tokens_in_document": length["n_tokens"],
                    "method": method,
                    "wall_s": round(measured["wall_s"], 3),
                    "tokens_processed": round(measured["tokens"]),
                    "llm_calls": measured["llm_calls"],
                    "peak_cuda_mb": round(peak / 2**20) if peak else None,
                    "bank_build_s": round(length["build_s"], 2),
                }
            )
    return rows


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Three panels against document length: wall time, tokens processed, peak CUDA memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("wall_s", "s per question"), ("tokens_processed", "tokens"), ("peak_cuda_mb", "MB"))
    figure, axes = plt.subplots(1, 3, figsize=(13, 4))
    for axis, (key, unit) in zip(axes, panels, strict=True):
        for method in sorted({row["method"] for row in rows}):
            points = [(r["tokens_in_document"], r[key]) for r in rows if r["method"] == method]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                axis.plot(*zip(*points, strict=True), marker="o", label=method)
        axis.set_xscale("log")
        axis.set_xlabel("document tokens")
        axis.set_ylabel(unit)
        axis.set_title(key)
        if axis.get_lines():
            axis.legend()
        else:  # e.g. peak memory of a CPU run
            axis.text(0.5, 0.5, "not measured", ha="center", transform=axis.transAxes)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _run_bench(args: argparse.Namespace, model_dir: Path, out: Path) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        str(HERE / "run.py"),
        "--backend=transformers",
        f"--model-path={model_dir}",
        "--device=cuda",
        f"--lengths={args.lengths}",
        f"--methods={','.join(METHODS)}",
        "--fillers=synthetic",
        f"--questions={args.questions}",
        f"--seed={args.seed}",
        f"--out={out}",
    ]
    # run.py imports lycheemem: from this checkout, installed or not
    source = str(HERE.parents[1] / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
    }
    subprocess.run(command, check=True, env=env)
    # run.py writes one list of lengths per filler
    return list(json.loads((out / "results.json").read_text())["synthetic"])


def main(argv: list[str] | None = None) -> int:
    """Build the model, run the bench, write gpu_check.json and gpu_check.png."""
    args = parse_args(argv)
    problem = cuda_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-model-") as folder:
        model_dir = Path(folder)
        texts = [build_haystack(n, seed=args.seed).text for n in args.length_list]
        tokenizer = build_tokenizer(texts, model_dir)
        parameters = build_model(args.preset, model_dir, len(tokenizer), "cuda", args.seed)
        torch.cuda.empty_cache()
        results = _run_bench(args, model_dir, out / "run")
    rows = summarize(results)
    report = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "preset": args.preset,
        "model_config": {**model_config(args.preset), "vocab_size": len(tokenizer)},
        "parameters": parameters,
        "weights": "random (seeded); answers are meaningless, timings and memory are real",
        "questions_per_length": args.questions,
        "rows": rows,
    }
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    title = f"lychee vs memagent, {args.preset} random model, {report['device']}"
    plot(rows, out / "gpu_check.png", title)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
