"""Slow down guessing of query codes: too many wrong codes for one order → 429 for a while.

Per process and in memory, which is enough to make guessing an 8-character code from a
32-symbol alphabet hopeless (about 10^12 codes against a handful of tries per window).
"""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_FAILURES = 10
WINDOW_SECONDS = 600.0
MAX_TRACKED = 100_000


class FailureThrottle:
    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self._window:
            times.popleft()
        return times

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self._limit

    def failed(self, key: str) -> None:
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:
                self._failures.clear()
            self._recent(key, time.monotonic()).append(time.monotonic())

    def retry_after(self, key: str) -> int:
        with self._lock:
            times = self._recent(key, time.monotonic())
            return int(self._window - (time.monotonic() - times[0])) + 1 if times else 0
