"""Checks run by the command line before the heavy start-up, each raising ``ConfigError``.

They turn the common first-run mistakes (a data directory that cannot be used, a port already
taken) into one line naming the setting to change, instead of a traceback from deep inside
SQLite, LanceDB or uvicorn after seconds of loading.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from pathlib import Path

from lycheemem.errors import ConfigError

__all__ = ["check_data_dir", "check_port_free"]


def check_data_dir(path: Path) -> None:
    """Create ``path`` if needed and prove a file can be written in it."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"LYCHEEMEM_DATA_DIR={str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"LYCHEEMEM_DATA_DIR={str(path)!r} cannot be created: {exc.strerror or exc}"
        ) from exc
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"LYCHEEMEM_DATA_DIR={str(path)!r} is not writable: {exc.strerror or exc}"
        ) from exc


def check_port_free(host: str, port: int) -> None:
    """Fail when ``host:port`` cannot be bound (in use, or an address this machine lacks).

    The probe socket is closed again at once; uvicorn binds for real a moment later.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Same option uvicorn sets, so a port held only by TIME_WAIT sockets counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use: stop the other server or set "
                    "LYCHEEMEM_PORT (or --port)"
                ) from exc
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): check LYCHEEMEM_HOST "
                "and LYCHEEMEM_PORT"
            ) from exc
