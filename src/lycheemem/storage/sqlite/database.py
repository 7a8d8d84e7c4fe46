"""SQLite access: one writer thread, a small reader pool, numbered migrations.

SQL lives in small synchronous functions that receive a ``sqlite3.Connection``;
callers hand them to :meth:`Database.read` or :meth:`Database.write`, which run
them off the event loop. Every write runs inside ``BEGIN IMMEDIATE ... COMMIT``
on the single writer thread, so writes are serialised and atomic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TypeVar

from lycheemem.errors import StorageError

__all__ = ["Database", "default_reader_threads", "migration_scripts"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous={sync}",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",
)


def migration_scripts() -> list[tuple[int, str, str]]:
    """Return ``(version, name, sql)`` for every packaged migration, in order."""
    folder = resources.files("lycheemem.storage.sqlite") / "migrations"
    found: list[tuple[int, str, str]] = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"migrations must be numbered 1..n without gaps, found {versions!r}")
    return found


def _connect(path: Path, *, read_only: bool, synchronous: str) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        if read_only and "journal_mode" in pragma:
            continue
        conn.execute(pragma.format(sync=synchronous))
    return conn


def default_reader_threads() -> int:
    """One reader thread per CPU core, at least 2 and at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


class Database:
    """An SQLite file opened in WAL mode with one writer thread and a reader pool.

    Promises: ``write`` callbacks run one at a time, each in its own
    transaction (committed on return, rolled back on exception); ``read``
    callbacks see the latest committed state; nothing runs on the event loop;
    ``close`` is idempotent. ``generation`` grows after every write that may change
    memory records or composites: every write unless its caller passed
    ``touches_memory=False``. Caches of memory-derived values key on it.
    """

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 0,
        synchronous: str = "FULL",
        nowait_queue_size: int = 1000,
    ) -> None:
        self.path = Path(path)
        self._readers = readers or default_reader_threads()
        self._synchronous = synchronous
        self._nowait_limit = nowait_queue_size
        self._nowait_pending = 0
        self._nowait_lock = threading.Lock()
        self.dropped_writes = 0
        self._writer: ThreadPoolExecutor | None = None
        self._reader_pool: ThreadPoolExecutor | None = None
        self._writer_conn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        self.schema_version = 0
        self.generation = 0

    # -- lifecycle ---------------------------------------------------------
    async def open(self) -> None:
        """Create the file if needed, apply pending migrations, start the pools."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(self._readers, thread_name_prefix="sqlite-reader")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._open_writer)

    def _open_writer(self) -> None:
        self._writer_conn = _connect(self.path, read_only=False, synchronous=self._synchronous)
        self.schema_version = apply_migrations(self._writer_conn)

    async def close(self) -> None:
        """Wait for queued writes, then close every connection. Safe to call twice."""
        writer, readers = self._writer, self._reader_pool
        self._writer = self._reader_pool = None
        if writer is not None:
            writer.submit(self._close_writer).result()
            writer.shutdown(wait=True)
        if readers is not None:
            readers.shutdown(wait=True)
        with self._reader_conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _close_writer(self) -> None:
        if self._writer_conn is not None:
            self._writer_conn.close()
            self._writer_conn = None

    @property
    def is_open(self) -> bool:
        """True between ``open()`` and ``close()``."""
        return self._writer is not None

    # -- access ------------------------------------------------------------
    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on a read-only connection in the reader pool."""
        pool = self._require(self._reader_pool)
        return await asyncio.get_running_loop().run_in_executor(pool, self._run_read, fn)

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], *, touches_memory: bool = True
    ) -> T:
        """Run ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction on the writer thread.

        ``touches_memory=False`` promises ``fn`` changes no memory record or composite
        (sessions, turns, jobs, usage counters), so ``generation`` stays as it is.
        """
        writer = self._require(self._writer)
        return await asyncio.get_running_loop().run_in_executor(
            writer, self._run_write, fn, touches_memory
        )

    def write_nowait(
        self, fn: Callable[[sqlite3.Connection], object], *, touches_memory: bool = True
    ) -> bool:
        """Queue a fire-and-forget write; returns False (and counts it) when the queue is full.

        ``touches_memory`` as for :meth:`write`.
        """
        writer = self._writer
        if writer is None:
            return False
        with self._nowait_lock:
            if self._nowait_pending >= self._nowait_limit:
                self.dropped_writes += 1
                return False
            self._nowait_pending += 1
        future = writer.submit(self._run_write, fn, touches_memory)
        future.add_done_callback(self._nowait_done)
        return True

    async def drain(self) -> None:
        """Wait until every write queued so far (``write_nowait`` included) has run."""
        await self.write(lambda conn: None)

    @property
    def queue_depth(self) -> int:
        """Fire-and-forget writes waiting for the writer thread."""
        return self._nowait_pending

    def _nowait_done(self, future: Future[object]) -> None:
        with self._nowait_lock:
            self._nowait_pending -= 1
        error = future.exception()
        if error is not None:
            log.error("background write failed: %r", error)

    def _require(self, pool: ThreadPoolExecutor | None) -> ThreadPoolExecutor:
        if pool is None:
            raise StorageError("database is not open")
        return pool

    def _run_write(self, fn: Callable[[sqlite3.Connection], T], touches_memory: bool = True) -> T:
        conn = self._writer_conn
        if conn is None:
            raise StorageError("database is not open")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if touches_memory:
            # Only this thread writes it; readers compare it before and after their reads.
            self.generation += 1
        return result

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, read_only=True, synchronous=self._synchronous)
            self._local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        return fn(conn)


def apply_migrations(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than ``PRAGMA user_version``; return the new version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    scripts = migration_scripts()
    if current > len(scripts):
        raise StorageError(
            f"database schema version {current} is newer than this build ({len(scripts)})"
        )
    for version, name, sql in scripts:
        if version <= current:
            continue
        log.info("applying migration %s", name)
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"migration {name!r} failed: {exc}") from exc
        current = version
    return current
