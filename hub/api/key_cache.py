"""A short-lived cache of valid API keys, so the hot path does no database read per request.

Only keys found active are cached, for KEY_CACHE_SECONDS; a revocation therefore takes
effect everywhere within that time (and at once in the process that revoked it).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from hub.store.api_keys import ApiKey, find_active_key
from hub.store.work_orders import hash_secret

KEY_CACHE_SECONDS = 5.0
MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(self, engine: Engine, ttl: float = KEY_CACHE_SECONDS) -> None:
        self._engine = engine
        self._ttl = ttl
        self._entries: dict[str, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def cached(self, clear: str) -> ApiKey | None:
        entry = self._entries.get(hash_secret(clear))
        if entry is not None and time.monotonic() - entry[1] < self._ttl:
            return entry[0]
        return None

    def lookup(self, clear: str) -> ApiKey | None:
        """Cached answer if fresh, else the database's (and remember it when active)."""
        key = self.cached(clear)
        if key is not None:
            return key
        with self._engine.connect() as conn:
            key = find_active_key(conn, clear)
        if key is not None:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[hash_secret(clear)] = (key, time.monotonic())
        return key

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
