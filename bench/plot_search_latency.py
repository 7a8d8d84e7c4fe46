"""Plot the search cost curve from ``bench/search_latency.py --json`` lines (log x axis).

    python bench/plot_search_latency.py bench/results/search_latency.jsonl docs/search-latency.png

The last line per record count wins. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: Path) -> list[dict]:
    """The measured rows, one per record count (the last line of each), smallest first."""
    rows: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["records"]] = row
    return [rows[count] for count in sorted(rows)]


def plot(rows: list[dict], out: Path) -> None:
    """Draw p50/p95 (in-process and HTTP) and CPU time per query against the record count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [row["records"] for row in rows]
    figure, axis = plt.subplots(figsize=(7, 4))
    for mode, style in (("in_process", "-"), ("http", "--")):
        if not all(mode in row for row in rows):
            continue
        for stat, marker in (("p50_ms", "o"), ("p95_ms", "s")):
            values = [row[mode][stat] for row in rows]
            label = f"{stat[:3]} {'in-process' if mode == 'in_process' else 'HTTP'}"
            axis.plot(counts, values, style, marker=marker, label=label)
    if all("cpu_p50_ms" in row["in_process"] for row in rows):
        cpu = [row["in_process"]["cpu_p50_ms"] for row in rows]
        axis.plot(counts, cpu, ":", marker="^", label="CPU per query, in-process (p50)")
    axis.set_xscale("log")
    axis.set_xlabel("records of the tenant")
    axis.set_ylabel("search latency (ms)")
    axis.set_title("POST /memory/search, one tenant, 2 cores")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)


def main() -> int:
    """Read the JSON lines and write the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    plot(load(args.results), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
