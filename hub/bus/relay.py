"""The outbox relay: publish rows the API committed, then mark them published.

The outbox row is written in the same transaction as the work order, so nothing is
announced that was not stored and nothing stored goes unannounced. A relay that dies
between the broker's confirm and its own commit publishes those rows again later, under
the same message ids — consumers skip ids they have processed, so that is harmless.

Several relays may run at once (one per API process, plus workers): on PostgreSQL each
claims its rows with FOR UPDATE SKIP LOCKED, so they share the work without publishing a
row twice; on SQLite the hub's writer lock lets one relay at a time in.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, Select, select

from hub.bus.broker import Bus
from hub.bus.errors import describe
from hub.model.base import utcnow
from hub.store.db import transaction
from hub.store.schema import outbox

log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
_ERROR_CHARS = 2000


def _claim(limit: int) -> Select[Any]:
    return (
        select(outbox.c.id, outbox.c.message_id, outbox.c.topic, outbox.c.key, outbox.c.payload)
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # SQLite ignores it; its writer lock serialises
    )


def _pending(engine: Engine) -> bool:
    """A cheap look first: an idle relay should not take SQLite's writer lock every poll."""
    query = select(outbox.c.id).where(outbox.c.published_at.is_(None)).limit(1)
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
    """The relay loop: polls the outbox, and wakes at once when `wake()` is called."""

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

    def wake(self) -> None:
        """Nudge the loop, e.g. right after a commit that added outbox rows."""
        self._wakeup.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.set()

    def run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                count, failed = _relay_batch(self.engine, self.bus, self.limit)
            except Exception as exc:
                log.error("outbox relay failed: %s", describe(exc))
                count, failed = 0, True
            failures = failures + 1 if failed else 0
            if count >= self.limit and not failed:
                continue  # a backlog: go on at once
            wait = min(self.interval * 2**failures, self.max_backoff)
            self._wakeup.wait(wait)
            self._wakeup.clear()
