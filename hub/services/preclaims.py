"""Assignments created already leased by the router, for this process's dispatcher.

With the in-process bus, the dispatch message of an order routed in a process is consumed
by that same process. The router can then create the order's assignments already claimed
(delivery state sent, attempt 1, leased like a dispatcher's claim) in its own write, and
the dispatcher skips its claim transaction: one round of the SQLite writer lock less per
batch on every order's way. A claim is remembered by (order, unit, dispatch key: every
unit's first assignment has the order's number), used once, and trusted only while the
assignment still looks freshly claimed. If this process dies first, the lease runs out and
the dispatch sweep sends the order, as after any crash mid-call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from hub.model.codes import DeliveryState
from hub.model.work_order import Assignment

#: Claims never taken (their message went to another process) are forgotten oldest first.
REMEMBERED = 100_000


class PreClaims:
    def __init__(self, lease: Callable[[str | None], timedelta]) -> None:
        self.lease = lease
        self._keys: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, keys: Iterable[tuple[str, str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._keys[key] = None
            while len(self._keys) > REMEMBERED:
                self._keys.popitem(last=False)

    def take(self, wo_no: str, assignment: Assignment, now: datetime) -> bool:
        """True (once) if the router here claimed this assignment and its lease still runs."""
        fresh = (
            assignment.delivery_state is DeliveryState.SENT
            and assignment.attempts == 1
            and assignment.next_attempt_at is not None
            and assignment.next_attempt_at > now
            and assignment.dispatch_key is not None
        )
        if not fresh:
            return False
        with self._lock:
            key = (wo_no, assignment.unit_code, assignment.dispatch_key or "")
            return self._keys.pop(key, False) is None
