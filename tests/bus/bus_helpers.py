"""Shared pieces of the bus tests: a private topology per test, scripted handlers, waits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kombu import Connection, Queue
from sqlalchemy import Engine, func, select

from hub.bus import Bus, Message, RetryPolicy, Topology, queue_specs
from hub.bus.topology import TOPIC_RECEIVED
from hub.model.base import utcnow
from hub.store.db import transaction
from hub.store.outbox import insert_outbox, outbox_row
from hub.store.schema import dead_letters, outbox, processed_messages

#: Short delays so retries finish in milliseconds on memory (RabbitMQ rounds up to 1 s).
FAST = RetryPolicy(max_attempts=3, first_delay=0.05, max_delay=0.2, min_defer=0.02, max_defers=5)
CONNECTORS = ("weaver_env",)


def private_topology(retry: RetryPolicy = FAST) -> Topology:
    """The hub's queues under a prefix of their own: tests share the memory broker and vhost."""
    return Topology(queue_specs(CONNECTORS, retry), prefix=f"t{uuid.uuid4().hex[:10]}.")


def delete_topology(url: str, topology: Topology) -> None:
    with Connection(url) as conn:
        channel = conn.channel()
        names = [topology.queue_name(s) for s in topology.queues]
        for name in [*names, topology.dead_letter_queue_name]:
            Queue(name, channel=channel).delete()
        topology.exchange.bind(channel).delete()
        topology.dead_letter_exchange.bind(channel).delete()


@contextmanager
def private_bus(url: str, retry: RetryPolicy = FAST) -> Iterator[Bus]:
    """A declared bus on a private topology, deleted afterwards."""
    topology = private_topology(retry)
    bus = Bus(url, topology)
    bus.declare()
    try:
        yield bus
    finally:
        bus.close()
        delete_topology(url, topology)


def drain(bus: Bus, queue_name: str, *, settle: float = 0.0) -> list[dict[str, Any]]:
    """Take every message now in a queue (waiting `settle` seconds for late ones)."""
    time.sleep(settle)
    bodies: list[dict[str, Any]] = []
    with Connection(bus.url) as conn:
        queue = Queue(queue_name, channel=conn.channel())
        while (message := queue.get(no_ack=True, accept=["json"])) is not None:
            bodies.append(message.payload)
    return bodies


class Recorder:
    """A handler that records every call and answers from a script of outcomes.

    Each outcome is None (succeed) or an exception to raise; after the script, `then`.
    """

    def __init__(self, *outcomes: BaseException | None, then: BaseException | None = None):
        self.calls: list[Message] = []
        self._script = list(outcomes)
        self._then = then
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        with self._lock:
            self.calls.append(message)
            outcome = self._script.pop(0) if self._script else self._then
        if outcome is not None:
            raise outcome

    def ids(self) -> list[str]:
        with self._lock:
            return [m.message_id for m in self.calls]

    def attempts(self) -> list[int]:
        with self._lock:
            return [m.attempt for m in self.calls]


class ByKey:
    """Hands each message to the recorder of its key: several scripts run side by side."""

    def __init__(self, **recorders: Recorder) -> None:
        self.recorders = recorders

    def __call__(self, message: Message) -> None:
        self.recorders[str(message.key)](message)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def add_outbox(
    engine: Engine,
    count: int,
    topic: str = TOPIC_RECEIVED,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
) -> list[str]:
    """Outbox rows as intake writes them; returns their message ids in id order."""
    rows = [
        outbox_row(topic, key or f"JK2025010{i:07d}", payload or {"n": i}, utcnow())
        for i in range(count)
    ]
    with transaction(engine) as conn:
        insert_outbox(conn, rows)
    return [r["message_id"] for r in rows]


def processed(engine: Engine, consumer: str = "route") -> list[str]:
    query = select(processed_messages.c.message_id).where(processed_messages.c.consumer == consumer)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def letters(engine: Engine) -> Sequence[Any]:
    with engine.connect() as conn:
        return conn.execute(select(dead_letters).order_by(dead_letters.c.id)).all()


def unpublished(engine: Engine) -> int:
    query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
