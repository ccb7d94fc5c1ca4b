"""The bus's bookkeeping that may wait a moment: outbox rows published, messages settled.

Neither record changes what happens to an order — the handlers' own writes do that — so a
process gathers them and writes them together a fraction of a second later, in one
transaction, instead of taking the database's writer lock once per batch of each queue.
If the process dies before they are written, the worst case is a message delivered once
more, which every consumer and handler allows (processed ids, idempotent handlers).
Until they are written, the ledger itself answers "was this settled here?".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from hub.model.base import utcnow
from hub.services.write_rounds import write_rounds
from hub.store.schema import outbox, processed_messages

#: Message ids per UPDATE … IN (…) (well within SQLite's bound-parameter limit).
CHUNK = 500


class Ledger:
    """Published and settled message ids not written yet; thread-safe.

    `notify` is called when something is added (the relay, which writes the ledger, may be
    asleep until its next poll).
    """

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._published: list[str] = []
        self._settled: dict[str, set[str]] = {}
        #: Settled ids being written right now: still answered for until committed.
        self._writing: dict[str, set[str]] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._published) + sum(len(ids) for ids in self._settled.values())

    def published(self, message_ids: Iterable[str]) -> None:
        with self._lock:
            self._published.extend(message_ids)
        if self._notify is not None:
            self._notify()

    def settled(self, consumer: str, message_ids: Iterable[str]) -> None:
        with self._lock:
            self._settled.setdefault(consumer, set()).update(message_ids)
        if self._notify is not None:
            self._notify()

    def settled_here(self, consumer: str, message_ids: Iterable[str]) -> set[str]:
        """Which of these ids this consumer settled in this process (written or not)."""
        with self._lock:
            pending = self._settled.get(consumer, set())
            writing = self._writing.get(consumer, set())
            return {i for i in message_ids if i in pending or i in writing}

    def flush(self, engine: Engine) -> None:
        """Write what was gathered in one transaction; on failure it is kept for next time."""
        with self._lock:
            published, self._published = self._published, []
            settled, self._settled = self._settled, {}
            self._writing = settled
        if not published and not settled:
            return
        try:  # in the process's next write round, with its other writes
            write_rounds(engine).write(lambda conn: _write(conn, published, settled))
        except BaseException:
            with self._lock:
                self._published[:0] = published
                for consumer, ids in settled.items():
                    self._settled.setdefault(consumer, set()).update(ids)
            raise
        finally:
            with self._lock:
                self._writing = {}


def _write(conn: Connection, published: list[str], settled: dict[str, set[str]]) -> None:
    now = utcnow()
    for start in range(0, len(published), CHUNK):
        chunk = published[start : start + CHUNK]
        conn.execute(outbox.update().where(outbox.c.message_id.in_(chunk)).values(published_at=now))
    rows = [
        {"consumer": consumer, "message_id": message_id, "processed_at": now}
        for consumer, ids in settled.items()
        for message_id in sorted(ids)
    ]
    if rows:
        conn.execute(_insert_new(conn), rows)


def _insert_new(conn: Connection) -> Insert:
    """INSERT that skips ids a concurrent twin settled first (both databases say it so)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(processed_messages).on_conflict_do_nothing()
    return sqlite.insert(processed_messages).on_conflict_do_nothing()
