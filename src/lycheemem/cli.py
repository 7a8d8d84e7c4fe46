"""Command line: ``lycheemem [serve|reindex|version]`` (also ``python main.py``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from lycheemem import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lycheemem", description="LycheeMem memory server")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the server (default)")
    serve.add_argument("--host", help="bind address (overrides LYCHEEMEM_HOST)")
    serve.add_argument("--port", type=int, help="port (overrides LYCHEEMEM_PORT)")
    serve.add_argument("--reload", action="store_true", help="reload on code changes (dev)")
    commands.add_parser("reindex", help="rebuild LanceDB vectors from SQLite")
    commands.add_parser("version", help="print the version")
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from lycheemem.config import load_settings
    from lycheemem.errors import ConfigError

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.reload:
        uvicorn.run("lycheemem.app:create_app", factory=True, host=host, port=port, reload=True)
        return 0
    from lycheemem.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, workers=1, log_level="info")
    return 0


def _reindex() -> int:
    import asyncio

    from lycheemem.config import load_settings
    from lycheemem.reindex import reindex

    settings = load_settings()
    _configure_logging(settings.log_level)
    counts = asyncio.run(reindex(settings))
    print(f"reindexed: {counts}")
    return 0


def _single_threaded_blas() -> None:
    """Default numpy's BLAS to one thread unless the environment already chose.

    A search multiplies small matrices (candidates, IVF clusters) from several threads at
    once; multi-threaded OpenBLAS spin-waits for its helper threads on each of them. Measured
    on 2 busy cores at 2,000 records: p50 133 ms and 30 ms CPU per query with 2 BLAS threads,
    37 ms and 16 ms with one. Must run before numpy is first imported.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _single_threaded_blas()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "reindex":
        return _reindex()
    return _serve(args)
