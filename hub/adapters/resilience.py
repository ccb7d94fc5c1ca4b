"""Retry with capped exponential backoff, a token-bucket rate limit and a circuit breaker.

Clock and sleep are injectable so tests run instantly and can record the waits.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVar

from hub.adapters.errors import AdapterError, CircuitOpen

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]


def backoff_delay(
    attempt: int, base: float, cap: float, rand: Callable[[], float] | None = None
) -> float:
    """Wait before retry `attempt` (1-based): min(cap, base·2^(attempt-1)).

    With rand, "full jitter": a uniform share of that, which spreads retries of many workers.
    """
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return ceiling * rand() if rand is not None else ceiling


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass
class Retrier:
    """Run a call, retrying AdapterErrors marked retryable.

    A non-idempotent call (create, reply) is retried only when the error says the far side
    surely did not act (`unsent`); otherwise the dispatcher checks with the idempotency
    lookup before trying again, so nothing is dispatched twice.
    """

    attempts: int = 3
    base: float = 0.5
    cap: float = 30.0
    jitter: bool = True
    respect_retry_after: bool = True
    max_retry_after: float = 120.0
    sleep: Sleep = time.sleep
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int, error: AdapterError) -> float:
        wait = backoff_delay(attempt, self.base, self.cap, self.rand if self.jitter else None)
        if self.respect_retry_after and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, self.max_retry_after))
        return wait

    def run(self, call: Callable[[], T], idempotent: bool = True) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except AdapterError as error:
                safe = idempotent or error.unsent
                if not (error.retryable and safe) or attempt == self.attempts:
                    raise
                self.sleep(self.delay(attempt, error))
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved; acquire() waits for a token."""

    rate: float
    burst: int
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take a token and return 0, or return how long to wait for one."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0 - 1e-9:  # tolerance: float refill may land a hair short
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self) -> None:
        while (wait := self.try_acquire()) > 0:
            self.sleep(wait)


@dataclass
class CircuitBreaker:
    """closed → (threshold consecutive failures) → open → (open_seconds) → half-open probe.

    Only transient failures (retryable AdapterErrors) count: a business refusal says the far
    side is up.
    """

    failure_threshold: int = 5
    open_seconds: float = 60.0
    half_open_probes: int = 1
    clock: Clock = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.open_seconds else "open"

    def _before(self) -> None:
        with self._lock:
            state = self.state
            if state == "open" or (state == "half_open" and self.probes >= self.half_open_probes):
                raise CircuitOpen(
                    "连接器熔断中，暂停调用 (circuit open: connector failed repeatedly, resting)",
                    retryable=False,
                )
            if state == "half_open":
                self.probes += 1

    def _record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.failures, self.opened_at, self.probes = 0, None, 0
                return
            self.failures += 1
            if self.opened_at is not None or self.failures >= self.failure_threshold:
                self.opened_at, self.probes = self.clock(), 0

    def run(self, call: Callable[[], T]) -> T:
        self._before()
        try:
            result = call()
        except AdapterError as error:
            if error.retryable:
                self._record(False)
            else:
                self._record(True)
            raise
        self._record(True)
        return result


@dataclass
class Resilience:
    """The order that protects both sides: breaker outside, each attempt rate-limited."""

    retrier: Retrier
    bucket: TokenBucket
    breaker: CircuitBreaker

    def run(self, call: Callable[[], T], idempotent: bool = True) -> T:
        def limited() -> T:
            self.bucket.acquire()
            return call()

        return self.breaker.run(lambda: self.retrier.run(limited, idempotent))
