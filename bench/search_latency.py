"""Search latency of /memory/search in memory-only mode at 10k / 100k records of one tenant.

Synthetic English and Chinese records of all seven types (templated entities, dates and
tags) are written through the storage layer with real wordllama vectors, then queries are
timed through the in-process service call (what /memory/search runs, minus HTTP).

    python bench/search_latency.py --records 100000 --queries 200 --top-k 5 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
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
    from lycheemem.storage.sqlite.records import save_record

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

        def write(conn, records=records):
            for record in records:
                save_record(conn, record)

        await ctx.db.write(write)
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
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> None:
    from lycheemem.bootstrap import build_context
    from lycheemem.config import load_settings

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env_file=None, data_dir=Path(tmp), llm_model="", sqlite_synchronous="NORMAL"
        )
        ctx = build_context(settings)
        await ctx.open()
        seconds = await populate(ctx, args.records, "bench-user", rng)
        print(f"inserted {args.records} records in {seconds:.1f}s")
        # The load leaves ~10^5 Python objects behind; their one full collection (100-160 ms)
        # belongs to the load, not to the first timed query.
        gc.collect()
        queries = [
            _fill(rng.choice(QUERIES), rng, rng.randrange(args.records))
            for _ in range(args.queries)
        ]
        for query in queries[:10]:  # warm-up: loads the tenant's vector matrices
            await ctx.service.search(user_id="bench-user", query=query, top_k=args.top_k)
        totals, stages = [], {"plan": [], "recall": [], "score": []}
        for query in queries:
            started = time.perf_counter()
            outcome = await ctx.service.search(user_id="bench-user", query=query, top_k=args.top_k)
            totals.append((time.perf_counter() - started) * 1000)
            for stage in stages:
                stages[stage].append(outcome.timing_ms[stage])
        await ctx.db.write(lambda conn: None)  # drain queued usage-log writes
        print(
            f"service call, {args.records} records, top_k={args.top_k}, "
            f"threads={args.threads}: p50={statistics.median(totals):.2f} ms "
            f"p95={_percentile(totals, 0.95):.2f} ms p99={_percentile(totals, 0.99):.2f} ms"
        )
        print(
            "  stage p50 (ms): "
            + ", ".join(
                f"{name}={statistics.median(values):.2f}" for name, values in stages.items()
            )
        )
        await ctx.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
