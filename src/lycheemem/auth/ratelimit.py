"""In-process limiter of failed logins: per client address and per username, with backoff.

Policy (docs/DECISIONS.md, "Login limiting"):

- An address may fail ``address_free`` times within ``window_s`` whatever usernames it
  tries (so spraying many usernames is limited); after that each further attempt waits
  an exponential backoff (``base_backoff_s`` = 30 s, then 60 s, 120 s ... at most
  ``max_backoff_s``) from its last failure.
- A username may fail ``username_free`` times within the window from all addresses
  together; after that an address that has itself failed for this username waits the
  backoff too. An address that has not failed for it is never held back, so nobody can
  lock a user out from elsewhere: the right password from a clean address still works.
- Success clears the username's failures (only its owner can succeed), never the
  address's: logging into one's own account does not buy more guesses elsewhere.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginRateLimiter"]

_MAX_KEYS = 100_000


class _Failures:
    """Failure times per key within a sliding window."""

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self._window = window_s
        self._clock = clock
        self._times: dict[object, deque[float]] = {}

    def recent(self, key: object) -> deque[float]:
        times = self._times.get(key)
        if times is None:
            return deque()
        cutoff = self._clock() - self._window
        while times and times[0] < cutoff:
            times.popleft()
        if not times:
            del self._times[key]
        return times

    def add(self, key: object) -> None:
        if len(self._times) >= _MAX_KEYS:
            self._times.clear()  # bounded memory under a flood of fresh keys
        self._times.setdefault(key, deque()).append(self._clock())

    def clear(self, key: object) -> None:
        self._times.pop(key, None)


class LoginRateLimiter:
    """Decides whether a login attempt may proceed (see the module docstring)."""

    def __init__(
        self,
        *,
        address_free: int = 20,
        username_free: int = 10,
        window_s: float = 900.0,
        base_backoff_s: float = 30.0,
        max_backoff_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._address_free = address_free
        self._username_free = username_free
        self._base_backoff = base_backoff_s
        self._max_backoff = max_backoff_s
        self._clock = clock
        self._by_address = _Failures(window_s, clock)
        self._by_username = _Failures(window_s, clock)
        self._by_pair = _Failures(window_s, clock)

    def _wait(self, times: deque[float], free: int) -> int:
        excess = len(times) - free
        if excess < 0:
            return 0
        backoff = min(self._max_backoff, self._base_backoff * 2.0 ** min(excess, 32))
        remaining = times[-1] + backoff - self._clock()
        return max(0, math.ceil(remaining))

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until this attempt is allowed (0 = allowed now)."""
        name = username.casefold()
        wait = self._wait(self._by_address.recent(client), self._address_free)
        if self._by_pair.recent((name, client)):
            wait = max(wait, self._wait(self._by_username.recent(name), self._username_free))
        return wait

    def failed(self, username: str, client: str) -> None:
        """Count one failed attempt of ``client`` for ``username``."""
        name = username.casefold()
        self._by_address.add(client)
        self._by_username.add(name)
        self._by_pair.add((name, client))

    def succeeded(self, username: str, client: str) -> None:
        """Forget the username's failures (the address keeps its own)."""
        name = username.casefold()
        self._by_username.clear(name)
        self._by_pair.clear((name, client))
