"""Assignments created already leased by the router, for this process's dispatcher.

With the in-process bus, the dispatch message of an order routed in a process is consumed
by that same process. The router can then create the order's assignments already claimed
(delivery state sent, attempt 1, leased like a dispatcher's claim) in its own write, and
the dispatcher skips its claim transaction: one round of the SQLite writer lock less per
batch on every order's way. A claim is remembered by (order, unit, dispatch key: every
unit's first assignment has the order's number), used once, and trusted only while the
assignment still looks freshly claimed. If this process dies first, the lease runs out and
the dispatch sweep sends the order, as after any crash mid-call.

The router also leaves the orders as it stored them (built only when taken), so the
dispatcher need not read back what was committed a moment ago. An order is taken once;
a dispatch message delivered again, or one for another unit of the same order, reads the
order from the database. Should the order change in between (a staff action in the same
fraction of a second), recording the task meets the order's version guard and is done
again on the order as it is then (Dispatcher._record_one).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from hub.model.codes import DeliveryState
from hub.model.work_order import Assignment, WorkOrder

#: Claims never taken (their message went to another process) are forgotten oldest first.
REMEMBERED = 100_000
#: Stored orders kept for the dispatcher (it takes them within a second or so).
ORDERS_KEPT = 5_000


class PreClaims:
    def __init__(self, lease: Callable[[str | None], timedelta]) -> None:
        self.lease = lease
        self._keys: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._orders: OrderedDict[str, Callable[[], WorkOrder]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, orders: Mapping[str, Callable[[], WorkOrder]]) -> None:
        """Orders just committed, each as a function that builds it as stored."""
        with self._lock:
            self._orders.update(orders)
            while len(self._orders) > ORDERS_KEPT:
                self._orders.popitem(last=False)

    def orders(self, wo_nos: Iterable[str]) -> dict[str, WorkOrder]:
        """Those of these orders kept here (each given out once)."""
        with self._lock:
            found = {n: self._orders.pop(n) for n in set(wo_nos) if n in self._orders}
        return {wo_no: build() for wo_no, build in found.items()}

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
