"""Rows handed by the writing process straight to its relay, and the relay's ledger.

Against the real brokers (memory, RabbitMQ) and databases (SQLite, PostgreSQL): the relay's
poll is set to once a minute, so whatever arrives within the test did not come by a poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from bus_helpers import Recorder, add_outbox, drain, private_bus, processed, wait_until
from sqlalchemy import Engine, insert, select, update

from hub.bus import Bus, BusRunner, relay_once, start_bus
from hub.bus.ledger import Ledger
from hub.bus.topology import TOPIC_RECEIVED
from hub.config import Settings
from hub.model.base import utcnow
from hub.store.db import transaction
from hub.store.outbox import HANDOFF_LEASE, handoff_active, insert_outbox, outbox_row
from hub.store.schema import outbox, processed_messages

ONCE_A_MINUTE = 60.0


@pytest.fixture
def bus_settings(settings: Settings, broker_url: str) -> Settings:
    return replace(settings, broker_url=broker_url)


@contextmanager
def handing_bus(
    engine: Engine, settings: Settings, bus: Bus, handler: Recorder
) -> Iterator[BusRunner]:
    """The bus consuming `route` with `handler`, once its relay takes handed rows; its
    poll comes once a minute, so nothing in a test arrives by a poll."""
    with start_bus(
        engine, settings, {"route": handler}, topology=bus.topology, relay_interval=ONCE_A_MINUTE
    ) as runner:
        wait_until(lambda: handoff_active(engine), what="the relay taking handed rows")
        yield runner


def rows(engine: Engine) -> list[tuple[str, bool, bool]]:
    """(message id, published, leased) of every outbox row, in id order."""
    with engine.connect() as conn:
        found = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    return [(r.message_id, r.published_at is not None, r.lease_until is not None) for r in found]


def test_committed_rows_go_out_at_once_and_are_marked_published_later(
    engine: Engine, bus_settings: Settings, broker_url: str
) -> None:
    handler = Recorder()
    with private_bus(broker_url) as bus, handing_bus(engine, bus_settings, bus, handler):
        ids = add_outbox(engine, 3)  # after the relay's first poll: only the handoff
        wait_until(lambda: sorted(handler.ids()) == sorted(ids), what="the handed rows")
        assert [r[2] for r in rows(engine)] == [True] * 3  # leased to this relay
        wait_until(lambda: all(r[1] for r in rows(engine)), what="marked published")
        wait_until(lambda: sorted(processed(engine)) == sorted(ids), what="settled")
    assert len(handler.calls) == 3  # each once: the poll never took the leased rows


def test_a_rolled_back_transaction_hands_nothing(
    engine: Engine, bus_settings: Settings, broker_url: str
) -> None:
    handler = Recorder()
    with private_bus(broker_url) as bus, handing_bus(engine, bus_settings, bus, handler):
        doomed = outbox_row(TOPIC_RECEIVED, "JK1", {"n": 1}, utcnow())
        with pytest.raises(RuntimeError), transaction(engine) as conn:
            insert_outbox(conn, [doomed])
            raise RuntimeError("rolled back")
        (kept,) = add_outbox(engine, 1)  # the next commit on that connection hands only its own
        wait_until(lambda: handler.ids() == [kept], what="the committed row")
    assert handler.ids() == [kept]
    assert [r[0] for r in rows(engine)] == [kept]


def test_a_leased_row_waits_for_its_lease_then_any_relay_publishes_it(
    engine: Engine, broker_url: str
) -> None:
    """The writing process died before its relay published: another relay's poll leaves
    the row alone until the lease has run out, then publishes it."""
    (orphan,) = add_outbox(engine, 1)  # no relay runs here: no lease
    with transaction(engine) as conn:
        conn.execute(update(outbox).values(lease_until=utcnow() + HANDOFF_LEASE))
    with private_bus(broker_url) as bus:
        assert relay_once(engine, bus) == 0
        with transaction(engine) as conn:
            conn.execute(update(outbox).values(lease_until=utcnow() - timedelta(seconds=1)))
        assert relay_once(engine, bus) == 1
        queue = bus.topology.queue_name(bus.topology.spec("route"))
        assert [b["message_id"] for b in drain(bus, queue)] == [orphan]
    assert rows(engine) == [(orphan, True, True)]


def test_a_publish_does_not_wait_for_the_ledger(
    engine: Engine, bus_settings: Settings, broker_url: str
) -> None:
    """While the ledger's write waits for a lock another transaction holds (SQLite's writer
    lock, PostgreSQL's row lock), rows handed to the relay still go out at once."""
    first, second = add_outbox(engine, 2)  # no relay runs yet: handed below by the test
    with transaction(engine) as conn:  # leased, so the relay's poll leaves them alone
        conn.execute(update(outbox).values(lease_until=utcnow() + HANDOFF_LEASE))
    with engine.connect() as conn:
        stored = {r.message_id: dict(r._mapping) for r in conn.execute(select(outbox))}
    holding, release = threading.Event(), threading.Event()

    def hold_the_rows() -> None:
        with transaction(engine) as conn:
            conn.execute(update(outbox).values(attempts=outbox.c.attempts))
            holding.set()
            release.wait(30)

    handler = Recorder()
    holder = threading.Thread(target=hold_the_rows)
    with private_bus(broker_url) as bus, handing_bus(engine, bus_settings, bus, handler) as runner:
        relay = runner.relay
        assert relay is not None
        holder.start()
        try:
            assert holding.wait(10)
            relay.take([stored[first]])
            wait_until(lambda: handler.ids() == [first], what="the first row")
            time.sleep(0.5)  # the ledger is due and waits for the held lock
            assert rows(engine)[0] == (first, False, True)
            relay.take([stored[second]])
            wait_until(lambda: handler.ids() == [first, second], what="the second row")
        finally:
            release.set()
            holder.join(10)
        wait_until(lambda: all(r[1] for r in rows(engine)), what="both marked published")
        wait_until(lambda: sorted(processed(engine)) == sorted([first, second]), what="settled")


def test_the_ledger_writes_settled_ids_once_and_answers_for_them_before(engine: Engine) -> None:
    ledger = Ledger()
    ledger.settled("route", ["m-1", "m-2"])
    assert ledger.settled_here("route", ["m-1", "m-3"]) == {"m-1"}
    assert ledger.settled_here("notice", ["m-1"]) == set()
    ledger.flush(engine)
    assert sorted(processed(engine)) == ["m-1", "m-2"]
    ledger.settled("route", ["m-2", "m-3"])  # m-2 again, as a twin consumer might
    ledger.flush(engine)
    assert sorted(processed(engine)) == ["m-1", "m-2", "m-3"]
    assert len(ledger) == 0


def test_a_ledger_that_cannot_be_written_keeps_what_it_holds(engine: Engine) -> None:
    ledger = Ledger()
    ledger.published(["m-1"])
    ledger.settled("route", ["m-2"])
    broken = engine.execution_options(schema_translate_map={None: "no_such_schema"})
    with pytest.raises(Exception):
        ledger.flush(broken)
    assert len(ledger) == 2
    ledger.flush(engine)
    assert processed(engine) == ["m-2"]


def test_ids_being_written_are_still_answered_for(engine: Engine) -> None:
    """Between taking the ids out of memory and committing them, a redelivery must still
    be recognised: another transaction holds the same row, so the ledger's write waits."""
    ledger = Ledger()
    ledger.settled("route", ["m-1"])
    holding, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        row = {"consumer": "route", "message_id": "m-1", "processed_at": utcnow()}
        with pytest.raises(RuntimeError), transaction(engine) as conn:
            conn.execute(insert(processed_messages), row)
            holding.set()
            release.wait(10)
            raise RuntimeError("rolled back")

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert holding.wait(10)
    writer = threading.Thread(target=ledger.flush, args=(engine,))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # waiting for the other transaction
    assert ledger.settled_here("route", ["m-1", "m-2"]) == {"m-1"}
    release.set()
    holder.join(10)
    writer.join(10)
    assert processed(engine) == ["m-1"]
    assert ledger.settled_here("route", ["m-1"]) == set()  # now the database answers
