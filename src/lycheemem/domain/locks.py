"""Per-(user, session) locks that serialise the turns of one session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["SessionLocks"]


class SessionLocks:
    """Hands out one ``asyncio.Lock`` per ``(user_id, session_id)``; unused locks are dropped."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, user_id: str, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock for the duration of the ``async with`` block."""
        key = (user_id, session_id)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
