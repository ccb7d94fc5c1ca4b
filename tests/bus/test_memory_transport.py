"""The in-process transport wakes a consumer when its queue receives, instead of polling."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from hub.bus import memory

WAIT = 10.0  # far longer than any test here should need


@contextmanager
def listening(queue: Queue, got: list[Any]) -> Iterator[Connection]:
    """A connection of the hub's memory transport with a consumer on `queue`."""
    with Connection("memory://localhost/", transport=memory.Transport) as conn:
        consumer = Consumer(conn, [queue], callbacks=[lambda body, msg: got.append(body)])
        consumer.consume()
        yield conn


def fresh_queue() -> Queue:
    name = f"test-{uuid.uuid4().hex}"
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def publish(queue: Queue, body: str) -> None:
    with Connection("memory://localhost/", transport=memory.Transport) as conn:
        Producer(conn).publish(
            body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue]
        )


def drain_in_thread(conn: Connection, timeout: float) -> tuple[threading.Thread, list[str]]:
    ended: list[str] = []

    def drain() -> None:
        try:
            conn.drain_events(timeout=timeout)
            ended.append("delivered")
        except TimeoutError:
            ended.append("timed out")

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    return thread, ended


def test_a_waiting_consumer_is_woken_by_the_message_for_its_queue() -> None:
    queue, got = fresh_queue(), []
    with listening(queue, got) as conn:
        thread, ended = drain_in_thread(conn, timeout=60)
        publish(queue, "hello")
        thread.join(WAIT)
        assert ended == ["delivered"]  # long before its 60-second timeout
        assert got == ["hello"]


def test_an_idle_consumer_does_not_poll() -> None:
    queue, got = fresh_queue(), []
    with listening(queue, got) as conn:
        looks = 0
        cycle = conn.transport.cycle
        real_get = cycle.get

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal looks
            looks += 1
            return real_get(*args, **kwargs)

        cycle.get = counted
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.5)
        # kombu's own memory transport looks every 20 ms: 25 times in half a second
        assert looks == 1
        assert got == []


def test_a_message_for_another_queue_does_not_wake_it() -> None:
    mine, other, got = fresh_queue(), fresh_queue(), []
    with listening(mine, got) as conn, listening(other, []):
        transport: Any = conn.transport
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.01)
        transport._arrived.clear()
        publish(other, "not for me")
        assert not transport._arrived.is_set()
        publish(mine, "for me")
        assert transport._arrived.is_set()


def test_interrupt_ends_a_wait_at_once() -> None:
    queue, got = fresh_queue(), []
    with listening(queue, got) as conn:
        thread, ended = drain_in_thread(conn, timeout=60)
        transport: Any = conn.transport
        transport.interrupt()
        thread.join(WAIT)
        assert ended == ["timed out"]
        assert got == []
