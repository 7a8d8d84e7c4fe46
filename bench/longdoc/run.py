"""Side-by-side benchmark of long-document QA methods on multi-hop haystacks.

    python bench/longdoc/run.py --lengths 8000,32000,128000,512000,1000000 --backend heuristic

For each filler and length it builds one haystack with chains of 2, 3 and 4 linked facts,
builds the bank once (real SQLite + LanceDB in a temp dir), then asks every chain's
question with every method and records wall time, model calls, tokens, chunks opened,
gate recall of the gold chunks, answer hits and (CUDA) peak memory. Fillers: `synthetic`
(templated sentences, haystack.py), `docstrings` (real prose: installed docstrings,
prose.py) and `locomo` (real conversations, optional: skipped with a note when the
LoCoMo files are not there). Writes results.json, RESULTS.md and latency.png next to
this file (or under --out).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from haystack import Haystack, build_haystack, gold_chunks  # noqa: E402
from prose import (  # noqa: E402
    LOCOMO_DIR,
    build_prose_haystack,
    docstring_paragraphs,
    locomo_paragraphs,
)

from lycheemem.longdoc.bank_factory import build_bank  # noqa: E402
from lycheemem.longdoc.chunker import chunk_text  # noqa: E402
from lycheemem.longdoc.config import load_longdoc_settings  # noqa: E402
from lycheemem.longdoc.service import LongDocService  # noqa: E402
from lycheemem.providers.embedding.wordllama import WordLlamaEmbedder  # noqa: E402
from lycheemem.providers.tokens import build_token_counter  # noqa: E402
from lycheemem.storage.sqlite.database import Database  # noqa: E402

USER = "bench"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--lengths", default="8000,32000,128000,512000,1000000")
    parser.add_argument(
        "--backend", default="heuristic", choices=["heuristic", "transformers", "vllm"]
    )
    parser.add_argument("--methods", default="lychee,memagent,rag")
    parser.add_argument(
        "--fillers",
        default="synthetic,docstrings,locomo",
        help="synthetic, docstrings (real prose, always there), locomo (optional data)",
    )
    parser.add_argument("--model-path", default="")
    parser.add_argument("--base-url", default="")
    parser.add_argument("--model", default="")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--memagent-max-tokens",
        type=int,
        default=0,
        help="skip memagent above this many tokens (0 = never skip)",
    )
    parser.add_argument(
        "--questions", type=int, default=0, help="ask only the first N chains (0 = all three)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seeds",
        default="",
        help="several seeds (comma-separated): one document per seed, questions pooled",
    )
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    return parser.parse_args()


def _filler_paragraphs(filler: str, max_tokens: int) -> list[str]:
    if filler == "docstrings":
        # enough text for the longest document without repeating, when installed packages
        # have that much (about 5 characters per token is a safe upper bound)
        return docstring_paragraphs(5_000_000)
    if filler == "locomo":
        return locomo_paragraphs()
    raise ValueError(f"unknown filler {filler!r}")


def _calibrated_haystack(
    filler: str, paragraphs: list[str], target: int, seed: int, counter: Any
) -> Haystack:
    if filler == "synthetic":
        sample = build_haystack(20_000, seed=seed)
        chars_per_token = len(sample.text) / max(1, counter.count(sample.text))
        return build_haystack(target, seed=seed, chars_per_token=chars_per_token)
    sample = build_prose_haystack(20_000, paragraphs, seed=seed)
    chars_per_token = len(sample.text) / max(1, counter.count(sample.text))
    return build_prose_haystack(target, paragraphs, seed=seed, chars_per_token=chars_per_token)


def _cuda_peak(reset: bool) -> int | None:
    if "torch" not in sys.modules:
        return None
    torch = sys.modules["torch"]
    if not torch.cuda.is_available():
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats()
        return 0
    return int(torch.cuda.max_memory_allocated())


async def _ask_all(
    service: LongDocService,
    doc_id: str,
    stack: Haystack,
    bounds: list[tuple[int, int]],
    method: str,
) -> dict[str, Any]:
    rows = []
    _cuda_peak(reset=True)
    for chain in stack.chains:
        gold = gold_chunks(chain, bounds)
        started = time.perf_counter()
        result = await service.ask(USER, doc_id=doc_id, question=chain.question, method=method)
        wall = time.perf_counter() - started
        opened = {o.chunk_index for o in result.opened}
        recall = 1.0 if method == "memagent" else len(gold & opened) / len(gold)
        rows.append(
            {
                "wall_s": wall,
                "llm_calls": result.llm_calls,
                "tokens": result.prompt_tokens + result.completion_tokens,
                "chunks_opened": result.chunks_opened,
                "chunks_total": result.chunks_total,
                "recall": recall,
                "hit": chain.answer.lower() in result.answer.lower(),
            }
        )
    peak = _cuda_peak(reset=False)
    return {
        "wall_s": statistics.mean(r["wall_s"] for r in rows),
        "llm_calls": statistics.mean(r["llm_calls"] for r in rows),
        "tokens": statistics.mean(r["tokens"] for r in rows),
        "chunks_opened": statistics.mean(r["chunks_opened"] for r in rows),
        "chunks_total": rows[0]["chunks_total"],
        "gate_recall": statistics.mean(r["recall"] for r in rows),
        "answer_hits": sum(r["hit"] for r in rows) / len(rows),
        "peak_cuda_bytes": peak,
        "questions": rows,
    }


def _pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per length from several seeds' documents: their questions pooled."""
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[0])
    for key in ("n_tokens", "n_chunks", "build_s"):
        out[key] = statistics.mean(r[key] for r in runs)
    out["n_tokens"] = round(out["n_tokens"])
    out["seeds"] = [r["seed"] for r in runs]
    out["methods"] = {}
    for method in runs[0]["methods"]:
        rows = [q for r in runs for q in r["methods"][method]["questions"]]
        peaks = [r["methods"][method]["peak_cuda_bytes"] or 0 for r in runs]
        out["methods"][method] = {
            "wall_s": statistics.mean(q["wall_s"] for q in rows),
            "llm_calls": statistics.mean(q["llm_calls"] for q in rows),
            "tokens": statistics.mean(q["tokens"] for q in rows),
            "chunks_opened": statistics.mean(q["chunks_opened"] for q in rows),
            "chunks_total": statistics.mean(q["chunks_total"] for q in rows),
            "gate_recall": statistics.mean(q["recall"] for q in rows),
            "answer_hits": sum(q["hit"] for q in rows) / len(rows),
            "peak_cuda_bytes": max(peaks) or None,
            "questions": rows,
        }
    return out


async def _one_length(
    args: argparse.Namespace,
    filler: str,
    paragraphs: list[str],
    target: int,
    workdir: Path,
    seed: int,
) -> dict[str, Any]:
    counter = build_token_counter()
    stack = _calibrated_haystack(filler, paragraphs, target, seed, counter)
    if args.questions:
        stack = dataclasses.replace(stack, chains=stack.chains[: args.questions])
    overrides: dict[str, Any] = {"backend": args.backend, "max_doc_bytes": 64 * 1024 * 1024}
    if args.backend == "transformers":
        overrides.update(model_path=args.model_path, device=args.device)
    if args.backend == "vllm":
        overrides.update(base_url=args.base_url, model=args.model)
    settings = load_longdoc_settings(env_file=None, **overrides)
    db = Database(workdir / f"bench-{filler}-{target}-{seed}.db", synchronous="NORMAL")
    await db.open()
    embedder = WordLlamaEmbedder()
    lance = workdir / f"lance-{filler}-{target}-{seed}"
    bank = build_bank(db, lance_dir=lance, dim=embedder.dim)
    service = LongDocService(settings, bank, embedder, counter)
    await service.start()
    try:
        started = time.perf_counter()
        doc = await service.create_document(USER, title=f"haystack-{target}", text=stack.text)
        doc = await service.wait_ready(USER, doc.doc_id, timeout_s=3600)
        build_s = time.perf_counter() - started
        if doc.status != "ready":
            raise RuntimeError(f"bank build failed: {doc.error}")
        await service.preload(USER, doc.doc_id)
        bounds = [(c.start, c.end) for c in chunk_text(stack.text, counter, settings.chunk_tokens)]
        methods = {}
        for method in args.methods.split(","):
            if (
                method == "memagent"
                and args.memagent_max_tokens
                and doc.n_tokens > args.memagent_max_tokens
            ):
                continue
            if method == "full" and doc.n_tokens + 512 > settings.context_tokens:
                continue
            methods[method] = await _ask_all(service, doc.doc_id, stack, bounds, method)
            m = methods[method]
            print(
                f"  {filler:<10} {target:>9} {method:<9} {m['wall_s']:.3f}s "
                f"opened {m['chunks_opened']:.1f}/{m['chunks_total']} "
                f"recall {m['gate_recall']:.2f} hits {m['answer_hits']:.2f}",
                flush=True,
            )
        return {
            "filler": filler,
            "seed": seed,
            "target_tokens": target,
            "n_tokens": doc.n_tokens,
            "n_chunks": doc.n_chunks,
            "build_s": build_s,
            "compression_ratio": doc.compression_ratio,
            "methods": methods,
        }
    finally:
        await service.close()
        embedder.close()
        await db.close()


def _seed_note(result: dict[str, Any]) -> str:
    seeds = result.get("seeds")
    if not seeds:
        return f"; seed {result.get('seed', '-')}"
    return f"; one document per seed {', '.join(str(s) for s in seeds)}, chunk counts averaged"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "-"


def _table(results: list[dict[str, Any]], backend: str) -> str:
    lines = [
        f"Filler: `{results[0]['filler']}`. Backend: `{backend}`. Mean over "
        f"{3 * len(results[0].get('seeds', [0]))} questions per length (chains of 2, 3 and 4 "
        f"facts{_seed_note(results[0])}).",
        "",
        "| tokens | chunks | method | wall s | model calls | tokens processed | chunks opened "
        "| gate recall | answer hits | peak CUDA MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        for method, m in res["methods"].items():
            peak = f"{m['peak_cuda_bytes'] / 2**20:.0f}" if m["peak_cuda_bytes"] else "-"
            lines.append(
                f"| {res['n_tokens']:,} | {res['n_chunks']:.0f} | {method} | {m['wall_s']:.3f} "
                f"| {m['llm_calls']:.1f} | {m['tokens']:,.0f} | {m['chunks_opened']:.1f} "
                f"| {m['gate_recall']:.2f} | {m['answer_hits']:.2f} | {peak} |"
            )
    if not any("lychee" in r["methods"] and "memagent" in r["methods"] for r in results):
        return "\n".join(lines)
    lines += [
        "",
        "| tokens | bank build s | lychee opens | lychee vs memagent: time | tokens |",
        "|---|---|---|---|---|",
    ]
    for res in results:
        ly, ma = res["methods"].get("lychee"), res["methods"].get("memagent")
        if ly and ma:
            time_ratio = _ratio(ma["wall_s"], ly["wall_s"])
            token_ratio = _ratio(ma["tokens"], ly["tokens"])
            share = ly["chunks_opened"] / max(1, ly["chunks_total"])
            lines.append(
                f"| {res['n_tokens']:,} | {res['build_s']:.2f} | {share:.0%} of chunks "
                f"| {time_ratio} | {token_ratio} |"
            )
    return "\n".join(lines)


def _plot(groups: dict[str, list[dict[str, Any]]], path: Path, backend: str) -> None:
    """Latency vs length, one panel per filler, one line per method."""
    panels: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for filler, results in groups.items():
        series = panels.setdefault(filler, {})
        for res in results:
            for method, m in res["methods"].items():
                series.setdefault(method, []).append((res["n_tokens"], m["wall_s"]))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        flat = {f"{f}/{m}": pts for f, series in panels.items() for m, pts in series.items()}
        _plot_plain(flat, path)
        return
    figure, axes_row = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 4.2), sharey=True, squeeze=False
    )
    for axes, (filler, series) in zip(axes_row[0], panels.items(), strict=True):
        for method, points in series.items():
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("document tokens")
        axes.set_title(f"{filler} filler")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    axes_row[0][0].set_ylabel("wall time per question (s)")
    figure.suptitle(f"Long-document QA: latency vs length ({backend} backend)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _plot_plain(series: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """A bare PNG line chart (log-log) for machines without matplotlib."""
    import math

    width, height = 640, 400
    pixels = bytearray(b"\xff" * (width * height * 3))
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    xs = [math.log10(x) for pts in series.values() for x, _ in pts]
    ys = [math.log10(max(y, 1e-6)) for pts in series.values() for _, y in pts]
    x0, x1, y0, y1 = min(xs), max(xs) + 1e-9, min(ys), max(ys) + 1e-9

    def point(x: float, y: float) -> tuple[int, int]:
        px = 40 + int((math.log10(x) - x0) / (x1 - x0) * (width - 80))
        py = height - 40 - int((math.log10(max(y, 1e-6)) - y0) / (y1 - y0) * (height - 80))
        return px, py

    for number, points in enumerate(series.values()):
        colour = colours[number % len(colours)]
        coords = [point(x, y) for x, y in points]
        for (ax, ay), (bx, by) in zip(coords, coords[1:], strict=False):
            for step in range(200):
                px = ax + (bx - ax) * step // 200
                py = ay + (by - ay) * step // 200
                for dx in (0, 1):
                    offset = ((py + dx) * width + px) * 3
                    pixels[offset : offset + 3] = bytes(colour)
    raw = b"".join(
        b"\x00" + bytes(pixels[r * width * 3 : (r + 1) * width * 3]) for r in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _notes(args: argparse.Namespace, skipped: list[str]) -> str:
    import os
    import platform

    cuda = _cuda_peak(reset=False) is not None
    lines = [
        "Notes:",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{'CUDA' if cuda else 'no GPU'}; command: "
        f"`python bench/longdoc/run.py --lengths {args.lengths} --backend {args.backend} "
        f"--fillers {args.fillers} --methods {args.methods}"
        f"{' --seeds ' + args.seeds if args.seeds else ''}`.",
        "- Fillers: `synthetic` = templated sentences (haystack.py); `docstrings` = prose "
        "paragraphs of the docstrings of the standard library and the installed packages "
        "(prose.py, read with `ast`, code dropped), shuffled; `locomo` = the LoCoMo "
        "development conversations flattened to prose (`Name said: ...`, four turns a "
        f"paragraph), shuffled and reused when shorter than the document (data from "
        f"`{LOCOMO_DIR}` or `$LYCHEEMEM_LOCOMO_DIR`, optional). Real-prose chains are "
        "paraphrased: no hop repeats the question's wording, only its names.",
        "- Wall time is per question after the bank is built and loaded (built once per "
        "document, reused by every question); bank build time is listed separately.",
        "- Tokens processed = prompt + completion tokens of every model call (the heuristic "
        "backend counts the tokens it reads and writes, so the count matches a model fed "
        "the same prompts).",
        "- Gate recall = share of the chunks holding a chain's facts that were opened "
        "(memagent reads everything, so 1.0 by construction). Answer hits = the gold city "
        "appears in the answer; with the heuristic backend this measures the extractive "
        "reasoner only.",
    ]
    if skipped:
        lines.append(f"- Skipped (filler text not found): {', '.join(skipped)}.")
    if args.backend == "heuristic":
        lines.append(
            "- The CUDA path (`--backend transformers --model-path DIR`, bf16, peak memory "
            "via torch.cuda) is implemented but was not measured here: this machine has no GPU."
        )
    return "\n".join(lines)


async def _main() -> None:
    args = _parse()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lengths = [int(x) for x in args.lengths.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    groups: dict[str, list[dict[str, Any]]] = {}
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="longdoc-bench-") as workdir:
        for filler in args.fillers.split(","):
            paragraphs = [] if filler == "synthetic" else _filler_paragraphs(filler, max(lengths))
            if filler != "synthetic" and not paragraphs:
                skipped.append(filler)
                print(f"  {filler}: no filler text found, skipped", flush=True)
                continue
            groups[filler] = [
                _pooled(
                    [
                        await _one_length(args, filler, paragraphs, target, Path(workdir), seed)
                        for seed in seeds
                    ]
                )
                for target in lengths
            ]
    (out / "results.json").write_text(json.dumps(groups, indent=2))
    tables = "\n\n".join(
        f"## {filler}\n\n{_table(results, args.backend)}" for filler, results in groups.items()
    )
    (out / "RESULTS.md").write_text(
        f"# Long-document QA benchmark\n\n{tables}\n\n{_notes(args, skipped)}\n"
    )
    _plot(groups, out / "latency.png", args.backend)
    print(tables)


if __name__ == "__main__":
    asyncio.run(_main())
