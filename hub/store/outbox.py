"""Outbox rows: written in the transaction of the change they announce, then published.

A process that runs a relay hands the rows it commits straight to that relay: they go out
at once, without the relay reading them back. Such rows carry a short lease during which
other relays leave them alone; if the process dies before its relay has marked them
published, the lease runs out and any relay's poll publishes them (consumers skip the
message ids they have settled already). Rows written where no relay runs (the CLI, an
Airflow task) have no lease and are published by the next poll of any relay.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, or_

from hub.model.base import utcnow
from hub.store.bulk import insert_many
from hub.store.db import after_commit
from hub.store.schema import outbox

#: How long the writing process's relay has to publish a handed row before others may.
HANDOFF_LEASE = timedelta(seconds=10)

Take = Callable[[list[dict[str, Any]]], None]

_takers: dict[str, list[Take]] = {}
_takers_lock = threading.Lock()


def _database(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def register_handoff(engine: Engine, take: Take) -> None:
    """From now on, rows this process commits to `engine`'s database go to `take`."""
    with _takers_lock:
        _takers.setdefault(_database(engine), []).append(take)


def unregister_handoff(engine: Engine, take: Take) -> None:
    with _takers_lock:
        takers = _takers.get(_database(engine), [])
        if take in takers:
            takers.remove(take)


def handoff_active(engine: Engine) -> bool:
    """Whether rows committed here to `engine`'s database go straight to a relay."""
    return _taker(engine) is not None


def _taker(engine: Engine) -> Take | None:
    takers = _takers.get(_database(engine))
    return takers[0] if takers else None


def outbox_row(topic: str, key: str, payload: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "message_id": str(uuid.uuid4()),
        "topic": topic,
        "key": key,
        "payload": payload,
        "created_at": at,
        "lease_until": None,
        "attempts": 0,
    }


def insert_outbox(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the rows in the caller's transaction; handed to this process's relay once
    that transaction commits, if one runs here."""
    take = _taker(conn.engine)
    if take is not None:
        lease = utcnow() + HANDOFF_LEASE
        for row in rows:
            row["lease_until"] = lease
        after_commit(conn, partial(take, rows))
    insert_many(conn, outbox, rows, one_statement=True)


def claimable(now: datetime) -> ColumnElement[bool]:
    """Rows a relay's poll may publish: not published, and not handed to a relay that
    still has time to do it."""
    c = outbox.c
    return and_(c.published_at.is_(None), or_(c.lease_until.is_(None), c.lease_until <= now))
