"""The login limiter's policy on a controlled clock: budgets, backoff, who is held back."""

from __future__ import annotations

from lycheemem.auth.ratelimit import LoginRateLimiter


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: _Clock) -> LoginRateLimiter:
    return LoginRateLimiter(address_free=3, username_free=2, clock=clock)


def test_address_backoff_doubles_and_expires() -> None:
    clock = _Clock()
    limiter = _limiter(clock)
    for n in range(3):
        assert limiter.retry_after(f"user{n}", "1.1.1.1") == 0
        limiter.failed(f"user{n}", "1.1.1.1")
    assert limiter.retry_after("other", "1.1.1.1") == 30
    clock.now += 30
    assert limiter.retry_after("other", "1.1.1.1") == 0
    limiter.failed("other", "1.1.1.1")
    assert limiter.retry_after("other", "1.1.1.1") == 60
    assert limiter.retry_after("other", "2.2.2.2") == 0
    clock.now += 901
    assert limiter.retry_after("other", "1.1.1.1") == 0


def test_username_budget_holds_back_only_addresses_that_failed_for_it() -> None:
    clock = _Clock()
    limiter = _limiter(clock)
    limiter.failed("erin", "6.6.6.6")
    limiter.failed("erin", "7.7.7.7")
    assert limiter.retry_after("erin", "6.6.6.6") == 30
    assert limiter.retry_after("erin", "8.8.8.8") == 0


def test_success_clears_the_username_but_not_the_address() -> None:
    clock = _Clock()
    limiter = _limiter(clock)
    for n in range(3):
        limiter.failed(f"user{n}", "1.1.1.1")
    limiter.failed("mine", "1.1.1.1")
    limiter.succeeded("mine", "1.1.1.1")
    assert limiter.retry_after("user9", "1.1.1.1") > 0
