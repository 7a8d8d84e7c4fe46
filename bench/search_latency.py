"""Search latency of /memory/search in memory-only mode, 10k to 1M records of one tenant.

Synthetic English and Chinese records of all seven types (templated entities, dates and
tags) are written through the storage layer with real wordllama vectors for one registered
user, then queries are timed through the in-process service call (what /memory/search
runs, minus HTTP) on a freshly opened context (its open time too): the first (cold) query
separately (it loads the tenant's vectors, or its saved IVF index when one is on disk), then
p50/p95/p99, the vector search's recall@10 against an exact scan and what the vector cache
holds. ``--http`` then starts ``main.py`` on the same data and times ``POST /memory/search``
(start-up time to ``/ready``, cold first query after that restart, p50/p95, the server's
resident memory).
``--data-dir`` keeps the dataset and reuses it on later runs with the same ``--records``.

    python bench/search_latency.py --records 100000 --queries 200 --top-k 5 --threads 2
    python bench/search_latency.py --records 1000000 --data-dir bench/data/1m --http
    python bench/search_latency.py --records 100000 --database-url postgresql://.../bench
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PEOPLE = ["Alice", "Bob", "Carmen", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
TOOLS = [
    "pg_dump",
    "kubectl",
    "helm",
    "terraform",
    "ruff",
    "pytest",
    "docker",
    "nginx",
    "redis",
    "ansible",
    "git",
    "cron",
    "s3",
    "grafana",
    "prometheus",
]
PLACES = ["Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Hanoi"]
TEMPLATES = [
    ("fact", "{p} works at {place} office as a data engineer on project {n}."),
    ("preference", "{p} prefers {tool} over alternatives for task {n}."),
    ("event", "{p} visited {place} on 2025-{m:02d}-{d:02d} for conference {n}."),
    ("constraint", "Deploys of service {n} must pass the {tool} check first."),
    ("procedure", "To back up database {n}, {p} runs {tool} nightly and uploads to s3."),
    ("failure_pattern", "The {tool} upgrade {n} failed because the namespace was wrong."),
    ("tool_affordance", "{tool} can export metrics for dashboard {n}."),
    ("fact", "{p}在{place}负责第{n}号项目的数据库迁移。"),
    ("preference", "{p}更喜欢用{tool}做第{n}次部署前检查。"),
]
QUERIES = [
    "how do I back up database {n}?",
    "what does {p} prefer for task {n}?",
    "when did {p} visit {place}?",
    "what must pass before deploying service {n}?",
    "why did the {tool} upgrade fail?",
    "{p}负责哪个项目?",
    "which tool exports metrics for dashboard {n}?",
]


def _fill(template: str, rng: random.Random, n: int) -> str:
    return template.format(
        p=rng.choice(PEOPLE),
        tool=rng.choice(TOOLS),
        place=rng.choice(PLACES),
        n=n,
        m=rng.randint(1, 12),
        d=rng.randint(1, 28),
    )


async def populate(ctx, count: int, user_id: str, rng: random.Random) -> float:
    """Insert ``count`` records with vectors; returns seconds spent."""
    from lycheemem.domain.models import MemoryRecord, SourceRef, VectorRow
    from lycheemem.domain.text.terms import canon, record_id_for

    started = time.perf_counter()
    now = ctx.clock.now_iso()
    batch = 5000
    for start in range(0, count, batch):
        records = []
        for n in range(start, min(count, start + batch)):
            memory_type, template = rng.choice(TEMPLATES)
            text = _fill(template, rng, n)
            records.append(
                MemoryRecord(
                    record_id=record_id_for(user_id, text),
                    user_id=user_id,
                    memory_type=memory_type,
                    semantic_text=text,
                    normalized_text=canon(text),
                    created_at=now,
                    updated_at=now,
                    entities=[rng.choice(PEOPLE)],
                    tool_tags=[rng.choice(TOOLS)],
                    source_session_id="bench",
                    source_turn_ids=[n],
                    sources=[SourceRef("bench", [n], [])],
                )
            )

        await _save_records(ctx, user_id, records)
        texts = [r.semantic_text for r in records] + [r.normalized_text for r in records]
        matrix = await ctx.embedder.inner.embed(texts)
        half = len(records)
        await ctx.vectors.upsert(
            "memory_records",
            [
                VectorRow(
                    r.record_id, user_id, matrix[i], matrix[half + i], memory_type=r.memory_type
                )
                for i, r in enumerate(records)
            ],
        )
        # as consolidation does: flag the rows whose vectors are stored, so the startup
        # reconcile of crashed batches does not re-embed the whole bench dataset
        await ctx.service.semantic.mark_indexed(
            record_ids=[r.record_id for r in records], composite_ids=[], skill_ids=[]
        )
    return time.perf_counter() - started


async def _save_records(ctx, user_id: str, records: list) -> None:
    """Insert records the way consolidation stores them, on whichever backend is open."""
    if ctx.storage.backend == "postgres":
        from lycheemem.storage.postgres.semantic_rows import save_records as pg_save_records

        for start in range(0, len(records), 500):  # batched statements, one transaction each
            async with ctx.service.semantic.db.tenant(user_id) as conn:
                await pg_save_records(conn, records[start : start + 500])
        return
    from lycheemem.storage.sqlite.records import save_record

    def write(conn):
        for record in records:
            save_record(conn, record)

    await ctx.db.write(write)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-1234"
META = "bench-meta.json"
# Queries whose vector recall@10 is measured (each also costs an exact scan per column).
RECALL_QUERIES = 50


DATABASE_URL = ""  # --database-url: PostgreSQL instead of the embedded files


def _settings(data_dir: Path, **overrides: object):
    from lycheemem.config import load_settings

    return load_settings(
        env_file=None,
        data_dir=data_dir,
        llm_model="",
        sqlite_synchronous="NORMAL",
        database_url=DATABASE_URL,
        **overrides,
    )


def _load_meta(data_dir: Path, records: int) -> dict | None:
    """The metadata of a finished dataset of ``records`` records in ``data_dir``, else None."""
    path = data_dir / META
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    return meta if meta.get("records") == records else None


async def prepare(data_dir: Path, records: int) -> dict:
    """Fill ``data_dir`` with ``records`` records of one registered user (or reuse it)."""
    from lycheemem.bootstrap import build_context

    meta = _load_meta(data_dir, records)
    if meta is not None:
        print(f"reusing {records} records in {data_dir} (inserted in {meta['insert_s']:.1f}s)")
        return meta
    if data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(f"{data_dir} holds another dataset; remove it or pick another --data-dir")
    ctx = build_context(_settings(data_dir))
    await ctx.open()
    login = await ctx.auth.register(username=BENCH_USER, password=BENCH_PASSWORD, display_name=None)
    user_id = login.user.user_id
    seconds = await populate(ctx, records, user_id, random.Random(7))
    await ctx.close()
    meta = {"records": records, "user_id": user_id, "insert_s": round(seconds, 1)}
    (data_dir / META).write_text(json.dumps(meta))
    print(f"inserted {records} records in {seconds:.1f}s ({records / seconds:.0f} records/s)")
    return meta


def bench_queries(records: int, count: int) -> list[str]:
    """The timed queries: fixed by the dataset size, whether it was just built or reused."""
    rng = random.Random(11)
    return [_fill(rng.choice(QUERIES), rng, rng.randrange(records)) for _ in range(count)]


def _summary(label: str, totals: list[float]) -> str:
    return (
        f"{label}: p50={statistics.median(totals):.2f} ms "
        f"p95={_percentile(totals, 0.95):.2f} ms p99={_percentile(totals, 0.99):.2f} ms"
    )


async def in_process(data_dir: Path, meta: dict, args: argparse.Namespace) -> dict:
    """Time the service call on a freshly opened context: cold first query, then p50/p95."""
    from lycheemem.bootstrap import build_context

    user_id = meta["user_id"]
    queries = bench_queries(args.records, args.queries)
    ctx = build_context(_settings(data_dir))
    started = time.perf_counter()
    await ctx.open()
    open_ms = (time.perf_counter() - started) * 1000
    saved = _saved_indexes(data_dir)
    started = time.perf_counter()
    await ctx.service.search(user_id=user_id, query=queries[0], top_k=args.top_k)
    cold_ms = (time.perf_counter() - started) * 1000
    for query in queries[1:10]:  # warm-up
        await ctx.service.search(user_id=user_id, query=query, top_k=args.top_k)
    gc.collect()
    totals, cpu, stages = [], [], {"plan": [], "recall": [], "score": []}
    for query in queries:
        started, used = time.perf_counter(), time.process_time()
        outcome = await ctx.service.search(user_id=user_id, query=query, top_k=args.top_k)
        totals.append((time.perf_counter() - started) * 1000)
        # CPU seconds of every thread of the process: what a query costs with the cores to
        # itself (on a machine shared with other work, wall time also counts the waiting).
        cpu.append((time.process_time() - used) * 1000)
        for stage in stages:
            stages[stage].append(outcome.timing_ms[stage])
    await _drain(ctx)  # queued usage-log writes
    print(f"context open: {open_ms:.0f} ms ({saved} saved vector indexes on disk)")
    print(f"cold first query after open: {cold_ms:.0f} ms")
    print(_summary(f"service call, {args.records} records, top_k={args.top_k}", totals))
    print(f"  CPU time per query: p50={statistics.median(cpu):.2f} ms")
    print(
        "  stage p50 (ms): "
        + ", ".join(f"{name}={statistics.median(values):.2f}" for name, values in stages.items())
    )
    result = {
        "open_ms": round(open_ms, 1),
        "saved_indexes": saved,
        "cold_ms": round(cold_ms, 1),
        "p50_ms": round(statistics.median(totals), 2),
        "p95_ms": round(_percentile(totals, 0.95), 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
    }
    # Both need this branch's vector index; older code (a baseline run) lacks them.
    if hasattr(ctx.vectors, "cache_info") or DATABASE_URL:
        result["recall_at_10"] = await vector_recall(ctx, user_id, queries[:RECALL_QUERIES])
    if hasattr(ctx.vectors, "cache_info"):
        result["cache"] = await ctx.vectors.cache_info()
    for entry in result.get("cache", []):
        print(
            f"  cache: {entry['table']}.{entry['column']} {entry['kind']} "
            f"{entry['rows']} rows, {entry['bytes'] / 2**20:.1f} MiB in RAM"
        )
    await ctx.close()
    return result


async def _drain(ctx) -> None:
    if ctx.storage.backend == "postgres":
        await ctx.service.semantic.drain()
    else:
        await ctx.db.write(lambda conn: None)


async def vector_recall(ctx, user_id: str, queries: list[str]) -> dict[str, float]:
    """recall@10 of the vector search the server uses against an exact scan, per column."""
    matrix = await ctx.embedder.embed(queries, kind="query")
    recall = {}
    for column in ("vector", "normalized_vector"):
        found = await ctx.vectors.search("memory_records", user_id, matrix, column=column, k=10)
        exact = await ctx.vectors.search(
            "memory_records", user_id, matrix, column=column, k=10, exact=True
        )
        overlaps = [
            len({i for i, _ in got} & {i for i, _ in want}) / max(1, len(want))
            for got, want in zip(found, exact, strict=True)
        ]
        recall[column] = round(statistics.mean(overlaps), 4)
    print(
        "  vector recall@10 against an exact scan: "
        + ", ".join(f"{column}={value:.3f}" for column, value in recall.items())
    )
    return recall


def _saved_indexes(data_dir: Path) -> int:
    """How many saved IVF indexes (one per tenant column) the data dir holds."""
    return len(list((data_dir / "vector-index").glob("*/meta.json")))


def _rss_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process (total, anonymous, file-backed), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return found


def over_http(data_dir: Path, args: argparse.Namespace) -> dict:
    """Start ``main.py`` on ``data_dir``, log in, then time ``POST /memory/search`` the same way.

    The server is a fresh process, so the first query is the cold one after a restart.
    """
    import httpx

    port = _free_port()
    saved = _saved_indexes(data_dir)
    env = {
        **os.environ,
        "LYCHEEMEM_DATA_DIR": str(data_dir),
        "LYCHEEMEM_LLM_MODEL": "",
        "LYCHEEMEM_SQLITE_SYNCHRONOUS": "NORMAL",
        "LYCHEEMEM_LOG_LEVEL": "WARNING",
        "LYCHEEMEM_DATABASE_URL": DATABASE_URL,
        "PYTHONPATH": str(ROOT / "src"),
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port)],
        env=env,
        cwd=str(data_dir),
    )
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        with httpx.Client(base_url=base, timeout=600) as client:
            _wait_ready(client, server)
            startup_s = time.perf_counter() - started
            login = client.post(
                "/auth/login", json={"username": BENCH_USER, "password": BENCH_PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            queries = bench_queries(args.records, args.queries)

            def ask(query: str) -> float:
                started = time.perf_counter()
                response = client.post(
                    "/memory/search", json={"query": query, "top_k": args.top_k}, headers=headers
                )
                response.raise_for_status()
                return (time.perf_counter() - started) * 1000

            cold_ms = ask(queries[0])
            for query in queries[1:10]:
                ask(query)
            cpu_before = _cpu_seconds(server.pid)
            totals = [ask(query) for query in queries]
            cpu_ms = (_cpu_seconds(server.pid) - cpu_before) * 1000 / len(queries)
            rss = _rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"server start to /ready: {startup_s:.1f} s ({saved} saved vector indexes on disk)")
    print(f"HTTP cold first query after a restart: {cold_ms:.0f} ms")
    print(_summary(f"HTTP POST /memory/search, {args.records} records", totals))
    print(f"  server CPU time per query (mean): {cpu_ms:.2f} ms")
    print(f"  server resident memory: {rss}")
    return {
        "startup_s": round(startup_s, 2),
        "saved_indexes": saved,
        "cold_ms": round(cold_ms, 1),
        "p50_ms": round(statistics.median(totals), 2),
        "p95_ms": round(_percentile(totals, 0.95), 2),
        "cpu_mean_ms": round(cpu_ms, 2),
        "rss_mib": rss,
    }


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used, all its threads together."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(client, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready in 300 s")


async def run(args: argparse.Namespace) -> None:
    """Prepare (or reuse) the dataset, then time the in-process (and HTTP) search."""
    if args.data_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            await _measure(Path(tmp), args)
    else:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        await _measure(args.data_dir, args)


async def _measure(data_dir: Path, args: argparse.Namespace) -> None:
    meta = await prepare(data_dir, args.records)
    result = {
        "records": args.records,
        "backend": "postgres" if DATABASE_URL else "embedded",
        "insert_s": meta["insert_s"],
    }
    result["in_process"] = await in_process(data_dir, meta, args)
    if args.http:
        result["http"] = await asyncio.to_thread(over_http, data_dir, args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "a") as out:
            out.write(json.dumps(result) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (main.py defaults to 1 as well)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the dataset here and reuse it on later runs of the same --records",
    )
    parser.add_argument("--json", help="append the measured numbers as one JSON line here")
    parser.add_argument(
        "--database-url",
        default="",
        help="postgresql://... : measure the PostgreSQL backend (an empty database) instead",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="also time POST /memory/search against a freshly started server (main.py)",
    )
    args = parser.parse_args()
    global DATABASE_URL
    DATABASE_URL = args.database_url
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
