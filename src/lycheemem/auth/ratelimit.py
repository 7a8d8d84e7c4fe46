"""In-process limiter of failed logins per (username, client address)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginRateLimiter"]


class LoginRateLimiter:
    """Allows at most ``max_failures`` failures per key within ``window_s`` seconds."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self._window
        while window and window[0] < cutoff:
            window.popleft()
        return window

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until the next attempt is allowed (0 = allowed now)."""
        window = self._recent((username.casefold(), client))
        if len(window) < self._max:
            return 0
        return max(1, int(window[0] + self._window - self._clock()) + 1)

    def failed(self, username: str, client: str) -> None:
        """Count one failed attempt."""
        self._recent((username.casefold(), client)).append(self._clock())
        if len(self._failures) > 100_000:
            self._failures.clear()

    def succeeded(self, username: str, client: str) -> None:
        """Forget the failures of this key."""
        self._failures.pop((username.casefold(), client), None)
