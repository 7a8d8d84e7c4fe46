"""A real LycheeMem server in a subprocess on a data directory, killable with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import lancedb

ROOT = Path(__file__).resolve().parents[2]
VECTOR_TABLES = {
    "memory_records": "record_id",
    "composite_records": "composite_id",
    "skills": "skill_id",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``python main.py serve`` on ``data_dir``; ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, data_dir: Path, **settings: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LYCHEEMEM_")}
        env.update(
            {
                "LYCHEEMEM_DATA_DIR": str(data_dir),
                "LYCHEEMEM_PORT": str(self.port),
                "LYCHEEMEM_HOST": "127.0.0.1",
                "LYCHEEMEM_CONSOLIDATE_DEBOUNCE_S": "0",
                "LYCHEEMEM_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT / "src"),
            }
        )
        env.update({f"LYCHEEMEM_{k.upper()}": v for k, v in settings.items()})
        self.log = (data_dir.parent / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "serve"],
            cwd=data_dir.parent,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/ready", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def client(self) -> httpx.Client:
        """An HTTP client for this server (anonymous namespace)."""
        return httpx.Client(base_url=self.base, timeout=120)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        """Graceful stop (SIGTERM) and wait."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


@contextmanager
def server(data_dir: Path, **settings: str) -> Iterator[Server]:
    """A server that is stopped (or already killed) when the block exits."""
    running = Server(data_dir, **settings)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


def storage_ids(data_dir: Path) -> dict[str, tuple[set[str], set[str]]]:
    """Per vector table: the ids in SQLite and the ids in LanceDB (server stopped)."""
    conn = sqlite3.connect(data_dir / "lycheemem.db")
    lance = lancedb.connect(str(data_dir / "lance"))
    found: dict[str, tuple[set[str], set[str]]] = {}
    try:
        for table, column in VECTOR_TABLES.items():
            rows = {row[0] for row in conn.execute(f"SELECT {column} FROM {table}")}
            handle = lance.open_table(table)
            scanned = handle.search().select([column]).limit(None).to_arrow()
            found[table] = (rows, set(scanned.column(column).to_pylist()))
    finally:
        conn.close()
    return found
