"""Backoff, Retry-After, token bucket and circuit breaker with an injected clock and sleep."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.adapters.errors import AdapterError, CircuitOpen
from hub.adapters.resilience import (
    CircuitBreaker,
    Retrier,
    TokenBucket,
    backoff_delay,
    parse_retry_after,
)

bases = st.floats(min_value=0.001, max_value=10)
caps = st.floats(min_value=0.001, max_value=600)


@given(st.integers(1, 200), bases, caps, st.floats(0, 1))
def test_backoff_never_exceeds_cap(attempt: int, base: float, cap: float, share: float) -> None:
    assert 0 <= backoff_delay(attempt, base, cap, lambda: share) <= cap
    assert backoff_delay(attempt, base, cap) <= cap


@given(st.integers(1, 199), bases, caps)
def test_backoff_non_decreasing_without_jitter(attempt: int, base: float, cap: float) -> None:
    assert backoff_delay(attempt, base, cap) <= backoff_delay(attempt + 1, base, cap)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@given(
    st.floats(0.5, 100),
    st.integers(1, 50),
    st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
def test_token_bucket_never_grants_more_than_rate_allows(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeTime()
    bucket = TokenBucket(rate, burst, clock=lambda: clock.now, sleep=clock.sleep)
    for gap in gaps:
        clock.now += gap
        bucket.acquire()
    granted = len(gaps)
    assert granted <= burst + rate * clock.now + 1e-6


def test_token_bucket_waits_for_next_token() -> None:
    clock = FakeTime()
    bucket = TokenBucket(2, 1, clock=lambda: clock.now, sleep=clock.sleep)
    bucket.acquire()
    bucket.acquire()
    assert clock.waits == [pytest.approx(0.5)]


def flaky(failures: int, retry_after: float | None = None):  # type: ignore[no-untyped-def]
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise AdapterError("busy", retryable=True, retry_after=retry_after)
        return "ok"

    return call, calls


def test_retrier_backs_off_then_succeeds() -> None:
    clock = FakeTime()
    call, calls = flaky(2)
    retrier = Retrier(attempts=3, base=1, cap=10, jitter=False, sleep=clock.sleep)
    assert retrier.run(call) == "ok"
    assert clock.waits == [1, 2] and len(calls) == 3


def test_retrier_caps_retry_after_and_gives_up() -> None:
    clock = FakeTime()
    call, calls = flaky(5, retry_after=900)
    retrier = Retrier(attempts=2, base=1, jitter=False, max_retry_after=60, sleep=clock.sleep)
    with pytest.raises(AdapterError):
        retrier.run(call)
    assert clock.waits == [60] and len(calls) == 2


def test_non_retryable_error_is_raised_at_once() -> None:
    clock = FakeTime()

    def call() -> None:
        raise AdapterError("PARAM_ERROR")

    with pytest.raises(AdapterError):
        Retrier(attempts=5, sleep=clock.sleep).run(call)
    assert clock.waits == []


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Thu, 01 Jan 1970 00:02:00 GMT", 60.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=60.0) == seconds


def test_breaker_half_open_failure_reopens_and_limits_probes() -> None:
    clock = FakeTime()
    breaker = CircuitBreaker(failure_threshold=2, open_seconds=10, clock=lambda: clock.now)
    failing, _ = flaky(100)
    for _ in range(2):
        with pytest.raises(AdapterError):
            breaker.run(failing)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.run(lambda: "x")
    clock.now = 10
    assert breaker.state == "half_open"
    with pytest.raises(AdapterError):
        breaker.run(failing)
    assert breaker.state == "open"
    clock.now = 25
    assert breaker.run(lambda: "x") == "x"
    assert breaker.state == "closed"


def test_business_errors_do_not_trip_the_breaker() -> None:
    breaker = CircuitBreaker(failure_threshold=1)

    def refused() -> None:
        raise AdapterError("PARAM_ERROR")

    for _ in range(3):
        with pytest.raises(AdapterError):
            breaker.run(refused)
    assert breaker.state == "closed"


def test_non_idempotent_call_retried_only_when_unsent() -> None:
    clock = FakeTime()
    sent_calls: list[int] = []

    def ambiguous() -> None:
        sent_calls.append(1)
        raise AdapterError("read timeout", retryable=True)

    with pytest.raises(AdapterError):
        Retrier(attempts=3, sleep=clock.sleep).run(ambiguous, idempotent=False)
    assert len(sent_calls) == 1
    call, calls = flaky(1)

    def unsent() -> str:
        try:
            return str(call())
        except AdapterError as error:
            error.unsent = True
            raise

    assert Retrier(attempts=3, sleep=clock.sleep).run(unsent, idempotent=False) == "ok"
    assert len(calls) == 2
