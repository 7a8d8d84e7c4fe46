"""Load and noisy-neighbour benchmark against a real server on loopback (not in make test).

Mixed load: ``--clients`` concurrent clients (each its own registered tenant) append turns,
search and queue consolidations for ``--duration`` seconds; reports throughput, p50/p99 per
operation, errors and any "database is locked" in responses or the server log.

Noisy neighbour: one quiet tenant searches in a loop, first alone (baseline), then while a
noisy tenant floods the server with failed logins, MCP ``initialize`` calls and large
imports; reports the quiet tenant's search p50 under each flood against its baseline. The
login budget per address is raised so every flooding login reaches argon2, as it would for
an attacker spread over many addresses.

    python bench/load.py --clients 32 --duration 60 --phase-s 20 --plot bench/load.png

Only the import flood, baseline first, three times, no mixed phase:

    python bench/load.py --clients 0 --duration 0 --phase-s 15 --floods imports --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
LOCKED = "database is locked"
FACTS = [
    "I prefer window seats on long flights.",
    "Our staging cluster is called Hopper.",
    "My sister Ines lives in Porto.",
    "The quarterly report is due on Fridays.",
    "We deploy with kubectl apply to the kube-system namespace.",
    "Always run pg_dump before migrations.",
]
QUERIES = ["where does Ines live?", "which seat do I like?", "how do we deploy?", "report due?"]
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``python main.py serve`` on a fresh data dir; returns the process and base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEEMEM_")}
    env.update(
        {
            "LYCHEEMEM_DATA_DIR": str(data_dir),
            "LYCHEEMEM_PORT": str(port),
            "LYCHEEMEM_LOG_LEVEL": "WARNING",
            "LYCHEEMEM_LOGIN_FAILURES_PER_ADDRESS": "10000",
            "LYCHEEMEM_LOGIN_FAILURES_PER_USERNAME": "10000",
            "PYTHONPATH": str(ROOT / "src"),
        }
    )
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve"], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("server did not start")


async def register(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Register ``username``; its auth headers."""
    body = {"username": username, "password": "pw-123456"}
    response = await http.post("/auth/register", json=body)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


class Recorder:
    """Latencies (ms) per operation, errors and lock messages."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.locked = 0

    async def timed(self, name: str, call: Awaitable[httpx.Response]) -> None:
        """Await ``call`` and record its latency or error."""
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            self.errors[f"{name}: {type(exc).__name__}"] += 1
            return
        self.latencies[name].append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            self.errors[f"{name}: {response.status_code}"] += 1
        if LOCKED in response.text:
            self.locked += 1


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def mixed_client(base: str, n: int, until: float, rec: Recorder) -> None:
    """One tenant: 60 % appends, 30 % searches, 10 % consolidations until ``until``."""
    rng = random.Random(n)
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        headers = await register(http, f"load{n}")
        turn = 0
        while time.monotonic() < until:
            roll = rng.random()
            session = f"s{n}-{turn // 20}"
            if roll < 0.6:
                body = {"session_id": session, "role": "user", "content": rng.choice(FACTS)}
                await rec.timed(
                    "append", http.post("/memory/append-turn", json=body, headers=headers)
                )
                turn += 1
            elif roll < 0.9:
                body = {"query": rng.choice(QUERIES)}
                await rec.timed("search", http.post("/memory/search", json=body, headers=headers))
            elif turn:
                body = {"session_id": f"s{n}-{(turn - 1) // 20}"}
                await rec.timed(
                    "consolidate", http.post("/memory/consolidate", json=body, headers=headers)
                )


async def run_mixed(base: str, clients: int, duration: float) -> dict[str, Any]:
    """The mixed-load phase; a summary dict."""
    rec = Recorder()
    until = time.monotonic() + duration
    started = time.monotonic()
    await asyncio.gather(*(mixed_client(base, n, until, rec) for n in range(clients)))
    elapsed = time.monotonic() - started
    total = sum(len(v) for v in rec.latencies.values())
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "throughput_rps": round(total / elapsed, 1) if elapsed > 0 else 0.0,
        "ops": {
            name: {
                "count": len(v),
                "p50_ms": round(pct(v, 0.5), 1),
                "p99_ms": round(pct(v, 0.99), 1),
            }
            for name, v in sorted(rec.latencies.items())
        },
        "errors": dict(rec.errors),
        "database_locked": rec.locked,
    }


# -- noisy neighbour ----------------------------------------------------------------------


async def quiet_searches(
    http: httpx.AsyncClient, headers: dict[str, str], seconds: float
) -> list[float]:
    """The quiet tenant's sequential search latencies (ms) for ``seconds``."""
    latencies: list[float] = []
    until = time.monotonic() + seconds
    n = 0
    while time.monotonic() < until:
        started = time.perf_counter()
        response = await http.post(
            "/memory/search", json={"query": QUERIES[n % 4]}, headers=headers
        )
        response.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
        n += 1
    return latencies


async def flood_logins(base: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Failed logins for non-existent users, back to back."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        n = 0
        while not stop.is_set():
            body = {"username": f"ghost{n}", "password": "wrong-password"}
            response = await http.post("/auth/login", json=body)
            counts[str(response.status_code)] += 1
            n += 1


async def flood_mcp(base: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Anonymous MCP ``initialize`` calls, each opening a new session."""
    params = {"protocolVersion": "2025-03-26", "capabilities": {},
              "clientInfo": {"name": "flood", "version": "0"}}  # fmt: skip
    message = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        while not stop.is_set():
            response = await http.post("/mcp", json=message, headers=MCP_HEADERS)
            counts[str(response.status_code)] += 1


def import_body(lines: int) -> bytes:
    """An export of ``lines`` records (about 1 KB each)."""
    header = {"type": "header", "format": "lycheemem.export", "version": 1}
    rows = [json.dumps(header)]
    for n in range(lines):
        text = f"Imported note {n}: " + " ".join(random.choice(FACTS) for _ in range(12))
        rows.append(json.dumps({"type": "record", "memory_type": "fact", "semantic_text": text}))
    return "\n".join(rows).encode()


# Importing tenants, reused by later rounds: the same data re-imported (merged), so the
# stored volume stops growing after the first round and rounds stay comparable.
_IMPORTERS: list[dict[str, str]] = []


async def flood_imports(base: str, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Large imports into the noisy tenant's own namespace, back to back."""
    body = import_body(2000)
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:
        if _IMPORTERS:
            headers = _IMPORTERS.pop()
        else:
            headers = await register(http, f"importer{random.randrange(10**9)}")
            headers["Content-Type"] = "application/x-ndjson"
        try:
            while not stop.is_set():
                response = await http.post("/memory/import", content=body, headers=headers)
                counts[str(response.status_code)] += 1
        finally:
            _IMPORTERS.append(headers)


Flood = Callable[[str, asyncio.Event, dict[str, int]], Awaitable[None]]
FLOODS: dict[str, tuple[Flood, int]] = {
    "failed logins (8 streams)": (flood_logins, 8),
    "MCP initialize (8 streams)": (flood_mcp, 8),
    "large imports (2 streams, 2,000 records ~2 MB each)": (flood_imports, 2),
}


async def run_noisy(
    base: str, seconds: float, floods: list[str] | None = None, rounds: int = 1
) -> list[dict[str, Any]]:
    """Baseline and one phase per flood, ``rounds`` times; rows with the quiet tenant's p50/p99.

    ``floods`` keeps only the floods whose name contains one of its words. With several
    rounds each round measures its own baseline right before its floods, so the ratios
    compare phases seconds apart on a machine whose load may drift.
    """
    chosen = {
        name: flood
        for name, flood in FLOODS.items()
        if not floods or any(word in name for word in floods)
    }
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        quiet = await register(http, "quiet")
        for n, fact in enumerate(FACTS * 5):
            body = {"session_id": "q", "role": "user", "content": f"{fact} ({n})"}
            await http.post("/memory/append-turn", json=body, headers=quiet)
        await http.post(
            "/memory/consolidate", json={"session_id": "q", "background": False}, headers=quiet
        )
        await quiet_searches(http, quiet, 3)  # warm-up
        rows: list[dict[str, Any]] = []
        for _ in range(rounds):
            baseline = await quiet_searches(http, quiet, seconds)
            rows.append(_row("none (baseline)", baseline, baseline, {}))
            for name, (flood, streams) in chosen.items():
                stop = asyncio.Event()
                counts: dict[str, int] = defaultdict(int)
                tasks = [asyncio.create_task(flood(base, stop, counts)) for _ in range(streams)]
                await asyncio.sleep(1)  # let the flood build up
                under = await quiet_searches(http, quiet, seconds)
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                rows.append(_row(name, under, baseline, dict(counts)))
    return rows


def _row(
    name: str, values: list[float], baseline: list[float], counts: dict[str, int]
) -> dict[str, Any]:
    p50 = pct(values, 0.5)
    return {
        "flood": name,
        "searches": len(values),
        "p50_ms": round(p50, 1),
        "p99_ms": round(pct(values, 0.99), 1),
        "vs_baseline": round(p50 / statistics.median(baseline), 2),
        "flood_statuses": counts,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Bar chart of the quiet tenant's search p50 per flood, with the 2x-baseline target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row["flood"].split(" (")[0] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(labels, [row["p50_ms"] for row in rows], color="#c0392b")
    ax.axhline(2 * rows[0]["p50_ms"], linestyle="--", color="grey", label="2x baseline (target)")
    for n, row in enumerate(rows):
        ax.text(n, row["p50_ms"], f"{row['p50_ms']} ms", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("quiet tenant search p50 (ms)")
    ax.set_title("Noisy neighbour: another tenant's search latency under floods")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(mixed: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Both tables in Markdown."""
    lines = [
        f"Mixed load: {mixed['clients']} clients, {mixed['seconds']} s, "
        f"{mixed['requests']} requests, "
        f"{mixed['throughput_rps']} req/s, errors {mixed['errors'] or 0}, "
        f"'database is locked' {mixed['database_locked']}",
        "",
        "| operation | count | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for name, op in mixed["ops"].items():
        lines.append(f"| {name} | {op['count']} | {op['p50_ms']} | {op['p99_ms']} |")
    lines += ["", "| flood | quiet searches | p50 ms | p99 ms | p50 / baseline | flood responses |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(row["flood_statuses"].items())) or "-"
        lines.append(
            f"| {row['flood']} | {row['searches']} | {row['p50_ms']} | {row['p99_ms']} | "
            f"{row['vs_baseline']}x | {statuses} |"
        )
    return "\n".join(lines)


def ratio_summary(rows: list[dict[str, Any]]) -> str:
    """Per flood over the rounds: the median p50 / baseline ratio and its range."""
    ratios: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["flood"] != "none (baseline)":
            ratios[row["flood"]].append(row["vs_baseline"])
    return "\n".join(
        f"{name}: median {round(statistics.median(values), 2)}x over {len(values)} rounds "
        f"(min {min(values)}x, max {max(values)}x)"
        for name, values in ratios.items()
    )


def main() -> None:
    """Run both phases against one fresh server and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--phase-s", type=float, default=20)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--floods", nargs="*", default=None, help="only floods whose name contains a word"
    )
    parser.add_argument("--rounds", type=int, default=1, help="baseline + floods, repeated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        process, base = start_server(Path(tmp) / "data", log_path)
        try:
            mixed = asyncio.run(run_mixed(base, args.clients, args.duration))
            rows = asyncio.run(run_noisy(base, args.phase_s, args.floods, args.rounds))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        mixed["database_locked"] += log_path.read_text(errors="replace").count(LOCKED)
    print(markdown(mixed, rows))
    if args.rounds > 1:
        print()
        print(ratio_summary(rows))
    if args.json:
        args.json.write_text(json.dumps({"mixed": mixed, "noisy": rows}, indent=2))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
