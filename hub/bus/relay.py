"""The outbox relay: publish rows the API committed, then mark them published.

The outbox row is written in the same transaction as the work order, so nothing is
announced that was not stored and nothing stored goes unannounced. A relay that dies
between the broker's confirm and its own commit publishes those rows again later, under
the same message ids — consumers skip ids they have processed, so that is harmless.

Several relays may run at once (one per API process, plus workers): on PostgreSQL each
claims its rows with FOR UPDATE SKIP LOCKED, so they share the work without publishing a
row twice; on SQLite the hub's writer lock lets one relay at a time in.

Rows committed in a process whose relay runs are handed to it straight after the commit
(hub.store.outbox): it publishes them at once, with no read and no lock on the way, and
marks them published a moment later, many in one transaction — written by a thread of its
own, so that waiting for the writer lock never holds up a publish. The poll is the safety net
for everything else — rows from processes without a relay, and handed rows whose process
died before it marked them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import Engine, Select, select

from hub.bus.broker import Bus
from hub.bus.errors import describe
from hub.bus.ledger import Ledger
from hub.model.base import utcnow
from hub.store.db import transaction
from hub.store.outbox import claimable, register_handoff, unregister_handoff
from hub.store.schema import outbox

log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 0.5
#: The ledger (published rows, settled messages) is written at most this long after.
LEDGER_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 30.0
_ERROR_CHARS = 2000


def _claim(limit: int) -> Select[Any]:
    return (
        select(outbox.c.id, outbox.c.message_id, outbox.c.topic, outbox.c.key, outbox.c.payload)
        .where(claimable(utcnow()))
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite ignores it; its writer lock serialises
    )


def _pending(engine: Engine) -> bool:
    """A cheap look first: an idle relay should not take SQLite's writer lock every poll."""
    query = select(outbox.c.id).where(claimable(utcnow())).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def _relay_batch(engine: Engine, bus: Bus, limit: int) -> tuple[int, bool]:
    """(rows published, whether a publish failed)."""
    if not _pending(engine):
        return 0, False
    published: list[int] = []
    failed = False
    with transaction(engine) as conn:
        for row in conn.execute(_claim(limit)).all():
            try:
                bus.publish(row.topic, row.key, row.payload, row.message_id)
            except Exception as exc:  # recorded on the row; the loop backs off
                failed = True
                log.warning("outbox %s: publish failed: %s", row.message_id, describe(exc))
                conn.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS],
                    )
                )
                break  # the broker is most likely down: keep the order, try later
            published.append(row.id)
        if published:
            conn.execute(
                outbox.update().where(outbox.c.id.in_(published)).values(published_at=utcnow())
            )
    return len(published), failed


def relay_once(engine: Engine, bus: Bus, limit: int = BATCH) -> int:
    """Publish up to `limit` unpublished outbox rows in id order; returns how many."""
    return _relay_batch(engine, bus, limit)[0]


class Relay:
    """The relay loop: publishes what this process hands it, polls the outbox for the rest,
    and polls at once when `wake()` is called."""

    def __init__(
        self,
        engine: Engine,
        bus: Bus,
        *,
        interval: float = POLL_SECONDS,
        limit: int = BATCH,
        max_backoff: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.interval = interval
        self.limit = limit
        self.max_backoff = max_backoff
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self._poll_now = False
        self._handed: deque[dict[str, Any]] = deque()
        self._ledger_added = threading.Event()
        #: What this process published and settled, written LEDGER_SECONDS after it came.
        self.ledger = Ledger(notify=self._ledger_added.set)

    def wake(self) -> None:
        """Poll now, e.g. right after another process or a tool added outbox rows."""
        self._poll_now = True
        self._wakeup.set()

    def take(self, rows: list[dict[str, Any]]) -> None:
        """Rows just committed in this process (hub.store.outbox): publish them now."""
        self._handed.extend(rows)
        self._wakeup.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.set()
        self._ledger_added.set()

    def run(self) -> None:
        register_handoff(self.engine, self.take)
        ledger = threading.Thread(
            target=self._ledger_loop, name=f"{threading.current_thread().name}-ledger", daemon=True
        )
        ledger.start()
        try:
            self._loop()
        finally:
            unregister_handoff(self.engine, self.take)
            ledger.join()
            self._publish_handed()
            self._write_ledger()

    def _loop(self) -> None:
        failures = 0
        next_poll = 0.0
        while not self._stopped.is_set():
            self._wakeup.clear()
            handed_failed = self._publish_handed()
            if self._poll_now or time.monotonic() >= next_poll:
                self._poll_now = False
                try:
                    count, failed = _relay_batch(self.engine, self.bus, self.limit)
                except Exception as exc:
                    log.error("outbox relay failed: %s", describe(exc))
                    count, failed = 0, True
                failures = failures + 1 if failed or handed_failed else 0
                backlog = count >= self.limit and not failed
                wait = 0.0 if backlog else min(self.interval * 2**failures, self.max_backoff)
                next_poll = time.monotonic() + wait
            if not self._handed:
                self._wakeup.wait(max(0.0, next_poll - time.monotonic()))

    def _publish_handed(self) -> bool:
        """Publish the handed rows; True if the broker refused one (the rest stay in the
        outbox, where the poll finds them once their lease has run out)."""
        published: list[str] = []
        failed = False
        while self._handed:
            row = self._handed.popleft()
            try:
                self.bus.publish(row["topic"], row["key"], row["payload"], row["message_id"])
            except Exception as exc:
                log.warning("outbox %s: publish failed: %s", row["message_id"], describe(exc))
                self._handed.clear()
                failed = True
                break
            published.append(row["message_id"])
        if published:
            self.ledger.published(published)
        return failed

    def _ledger_loop(self) -> None:
        """Write the ledger a moment after something came, until the relay stops (which
        then writes the rest itself)."""
        while True:
            self._ledger_added.wait()
            if self._stopped.wait(LEDGER_SECONDS):
                return
            self._ledger_added.clear()
            self._write_ledger()
            if len(self.ledger):  # not written: try again after the same pause
                self._ledger_added.set()

    def _write_ledger(self) -> None:
        if not len(self.ledger):
            return
        try:
            self.ledger.flush(self.engine)
        except Exception as exc:  # kept for the next round; meanwhile nothing is lost
            log.warning("bus ledger not written: %s", describe(exc))
