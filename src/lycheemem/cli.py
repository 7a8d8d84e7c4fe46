"""Command line: ``lycheemem [serve|reindex|migrate|vllm-serve|version]`` (also ``python main.py``).

Configuration mistakes end the process with one line on stderr and exit code 2, never a
traceback: invalid settings, an unusable data directory, a port already in use.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from lycheemem import __version__
from lycheemem.errors import ConfigError

__all__ = ["main"]

EXIT_CONFIG = 2
EXIT_MISMATCH = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lycheemem", description="LycheeMem memory server")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the server (default)")
    serve.add_argument("--host", help="bind address (overrides LYCHEEMEM_HOST)")
    serve.add_argument("--port", type=int, help="port (overrides LYCHEEMEM_PORT)")
    serve.add_argument("--reload", action="store_true", help="reload on code changes (dev)")
    commands.add_parser("reindex", help="rebuild LanceDB vectors from SQLite")
    migrate = commands.add_parser(
        "migrate",
        help="move the embedded data directory (SQLite + LanceDB) into PostgreSQL",
        description="Copy every account and every tenant's memory of LYCHEEMEM_DATA_DIR into "
        "PostgreSQL, then count each table on both sides. Stop the server first; safe to re-run.",
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://... URL")
    commands.add_parser("version", help="print the version")
    _add_vllm_parser(commands)
    return parser


def _add_vllm_parser(commands: argparse._SubParsersAction) -> None:
    vllm = commands.add_parser(
        "vllm-serve",
        help="start a vLLM server for long-document QA (needs lycheemem[vllm] and a GPU)",
        description="Start vLLM's OpenAI-compatible server with the flags the long-document "
        "reasoner needs, wait for /health and print the LYCHEEMEM_LONGDOC_* settings. "
        "Unknown flags are passed to vLLM.",
    )
    vllm.add_argument("--model", required=True, help="model directory or Hugging Face id")
    vllm.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    vllm.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    vllm.add_argument("--served-model-name", default="lychee-longdoc", help="name clients use")
    vllm.add_argument("--max-model-len", type=int, default=32_768, help="context length")
    vllm.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    vllm.add_argument("--timeout", type=float, default=900, help="seconds to wait for /health")
    vllm.add_argument(
        "--dry-run", action="store_true", help="print the command and settings, start nothing"
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _fail(exc: ConfigError) -> int:
    print(f"error: {exc.message}", file=sys.stderr)
    return EXIT_CONFIG


def _serve(args: argparse.Namespace) -> int:
    from lycheemem.config import load_settings
    from lycheemem.longdoc.config import load_longdoc_settings
    from lycheemem.preflight import check_data_dir, check_port_free

    settings = load_settings()
    longdoc_settings = load_longdoc_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    check_data_dir(settings.data_dir)
    check_port_free(host, port)
    _configure_logging(settings.log_level)

    import uvicorn

    if args.reload:
        uvicorn.run(
            "lycheemem.app:create_app",
            factory=True,
            host=host,
            port=port,
            reload=True,
            proxy_headers=False,
        )
        return 0
    from lycheemem.app import create_app

    app = create_app(settings, longdoc_settings=longdoc_settings)
    # The app reads X-Forwarded-For itself, from LYCHEEMEM_TRUSTED_PROXIES only; uvicorn's
    # default would believe it from any loopback peer.
    uvicorn.run(app, host=host, port=port, workers=1, log_level="info", proxy_headers=False)
    return 0


def _reindex() -> int:
    import asyncio

    from lycheemem.config import load_settings
    from lycheemem.preflight import check_data_dir
    from lycheemem.reindex import reindex

    settings = load_settings()
    check_data_dir(settings.data_dir)
    _configure_logging(settings.log_level)
    counts = asyncio.run(reindex(settings))
    print(f"reindexed: {counts}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    import asyncio

    from lycheemem.bootstrap import build_embedder
    from lycheemem.config import load_settings
    from lycheemem.migrate import check_url, migrate

    check_url(args.to)  # before loading the embedder: a typo fails at once
    settings = load_settings()

    async def run() -> int:
        embedder = await build_embedder(settings)
        report = await migrate(settings, args.to, embedder=embedder)
        print(report.table(), file=sys.stderr)
        if not report.ok:
            print(
                "error: row counts differ after the migration for "
                f"{', '.join(report.mismatched)}; PostgreSQL holds rows the data directory "
                "does not, or some rows could not be imported (see the table above)",
                file=sys.stderr,
            )
            return EXIT_MISMATCH
        print(
            f"migrated {report.tenants} tenants in {report.seconds:.1f} s; every count matches",
            file=sys.stderr,
        )
        return 0

    return asyncio.run(run())


def _single_threaded_blas() -> None:
    """Default numpy's BLAS to one thread unless the environment already chose.

    A search multiplies small matrices (candidates, IVF clusters) from several threads at
    once; multi-threaded OpenBLAS spin-waits for its helper threads on each of them. Measured
    on 2 busy cores at 2,000 records: p50 133 ms and 30 ms CPU per query with 2 BLAS threads,
    37 ms and 16 ms with one. Must run before numpy is first imported.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _vllm_serve(args: argparse.Namespace, extra: list[str]) -> int:
    from lycheemem.vllm_serve import VllmServeOptions, run_vllm_server

    options = VllmServeOptions(
        model=args.model,
        host=args.host,
        port=args.port,
        served_model_name=args.served_model_name,
        max_model_len=args.max_model_len,
        gpu_memory_utilization=args.gpu_memory_utilization,
    )
    return run_vllm_server(options, extra, timeout_s=args.timeout, dry_run=args.dry_run)


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "reindex":
        return _reindex()
    if args.command == "migrate":
        return _migrate(args)
    if args.command == "vllm-serve":
        return _vllm_serve(args, extra)
    return _serve(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _single_threaded_blas()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "vllm-serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _run(args, extra)
    except ConfigError as exc:
        return _fail(exc)
