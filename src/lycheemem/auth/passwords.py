"""Password hashing with argon2id (argon2-cffi defaults, one lane), off the event loop.

Each hash or verify costs tens of milliseconds of CPU. ``HashingPool`` runs them on a
few worker threads (argon2 releases the GIL) and bounds how many may wait, so a flood
of logins queues or is refused with 429 instead of starving every other request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lycheemem.errors import RateLimited

__all__ = ["HashingPool", "hash_password", "verify_password"]

T = TypeVar("T")
# One lane: argon2's default of 4 lanes runs 4 threads per hash, so a single login could
# occupy every core of a small server. Same memory and time cost, one core per hash.
_HASHER = PasswordHasher(parallelism=1)


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; never raises on a mismatch."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class HashingPool:
    """Runs password hashing on ``concurrency`` threads with at most ``queue`` waiting.

    A call beyond ``concurrency + queue`` in flight raises ``RateLimited`` (429) at once.
    ``close()`` stops the threads; it is idempotent.
    """

    def __init__(self, *, concurrency: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2")
        self._limit = concurrency + queue
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Hash operations running or waiting now."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: str) -> T:
        """``fn(*args)`` on a hashing thread; ``RateLimited`` when the pool is full."""
        if self._in_flight >= self._limit:
            raise RateLimited("Too many logins in progress; try again in a moment", 1)
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        """``hash_password`` on the pool."""
        return await self.run(hash_password, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """``verify_password`` on the pool."""
        return await self.run(verify_password, password_hash, password)

    def close(self) -> None:
        """Stop the worker threads (running hashes finish)."""
        self._executor.shutdown(wait=False)
