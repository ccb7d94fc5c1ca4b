"""The broker: kombu connections from one URL, persistent messages, publisher confirms.

`memory://` is kombu's in-process transport (the embedded default: each process relays
and consumes its own messages); `amqp://…` is RabbitMQ, where every publish waits for
the broker's confirm, so the relay marks a row published only once RabbitMQ has it.

Kombu connections are not thread-safe, so each thread that publishes gets its own
connection (kept per thread, closed by `close`). Delayed messages (retries, deferrals)
use kombu's native delayed delivery on RabbitMQ (TTL queues, durable, whole seconds);
on other transports a timer thread in this process republishes them — if the process
dies first they are lost from the broker, but the database still has the work and the
sweeps find it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kombu import Connection, Producer, Queue
from kombu.transport.native_delayed_delivery import (
    MAX_LEVEL,
    bind_queue_to_native_delayed_delivery_exchange,
    calculate_routing_key,
    declare_native_delayed_delivery_exchanges_and_queues,
    level_name,
)

from hub.bus import memory
from hub.bus.topology import QueueSpec, Topology, retry_key

log = logging.getLogger(__name__)

PERSISTENT = 2
CONFIRM_TIMEOUT = 30.0
#: kombu's publish retry: reconnect and try again on connection errors, briefly.
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2}
#: The longest delay kombu's delay exchanges can express (28 bits of seconds).
MAX_DELAY_SECONDS = (1 << (MAX_LEVEL + 1)) - 1
QUORUM_SINCE = (3, 10)  # quorum queues with TTL and at-least-once dead-lettering


def envelope(
    message_id: str, topic: str, key: str | None, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """The message body: everything a consumer needs, whatever routing key it came by."""
    return {"message_id": message_id, "topic": topic, "key": key, "payload": dict(payload)}


def _server_version(conn: Connection) -> tuple[int, ...]:
    properties = getattr(conn.connection, "server_properties", None) or {}
    raw = properties.get("version", b"")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


class _Timer(threading.Thread):
    """Runs callables at their due time, in order; for transports without delay queues."""

    def __init__(self) -> None:
        super().__init__(name="hub-bus-timer", daemon=True)
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._stopped = False

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        with self._wakeup:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), action))
            self._wakeup.notify()

    def run(self) -> None:
        while True:
            with self._wakeup:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wakeup.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._due)
            try:
                action()
            except Exception as exc:
                log.error("delayed republish failed (%s); the sweeps will find the work", exc)

    def stop(self) -> int:
        """Stop; returns how many delayed messages were still waiting (and are dropped)."""
        with self._wakeup:
            self._stopped = True
            self._wakeup.notify()
            return len(self._due)


class Bus:
    """The hub's broker: declares the topology and publishes, from any thread."""

    def __init__(self, url: str, topology: Topology, *, connect_retries: int = 10) -> None:
        if url.rstrip("/") == "memory:":  # give it a host: kombu warns on every connect
            url = "memory://localhost/"
        self.url = url
        self.topology = topology
        self.connect_retries = connect_retries
        probe = Connection(url)
        self.driver = str(probe.transport.driver_type)
        #: RabbitMQ: kombu's delay exchanges and queues; elsewhere the in-process timer.
        self.native_delays = self.driver == "amqp"
        if self.native_delays:
            self._template = Connection(
                url, transport_options={"confirm_publish": True}, connect_timeout=5
            )
        else:  # kombu's in-process queues, with consumers woken by arrivals (no polling)
            transport = memory.Transport if self.driver == "memory" else None
            self._template = Connection(url, transport=transport, connect_timeout=5)
        self.quorum = False
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._timer: _Timer | None = None
        self._closed = False

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and the console."""
        return str(self._template.as_uri()) if self.native_delays else self.url

    def connection(self) -> Connection:
        """A new, not yet connected kombu connection with the bus's options."""
        return self._template.clone()

    def connect(self, conn: Connection) -> Connection:
        """Connect, retrying with backoff (a broker still starting, a network blip)."""
        conn.ensure_connection(
            errback=self._log_retry,
            max_retries=self.connect_retries,
            interval_start=0.5,
            interval_step=1,
            interval_max=5,
        )
        return conn

    def _log_retry(self, exc: BaseException, interval: float) -> None:
        log.warning("broker %s unreachable (%s); retrying in %.1fs", self.safe_url, exc, interval)

    def declare(self) -> None:
        """Declare exchanges, queues, bindings and the delay infrastructure; idempotent."""
        with self.connection() as conn:
            self.connect(conn)
            self.quorum = self.native_delays and _server_version(conn) >= QUORUM_SINCE
            channel = conn.default_channel
            for spec in self.topology.queues:
                self.queue(spec).bind(channel).declare()
            self.topology.dead_letter_queue(quorum=self.quorum).bind(channel).declare()
            if self.native_delays:
                self._declare_delays(conn)
        log.info("bus topology declared on %s (quorum queues: %s)", self.safe_url, self.quorum)

    def _declare_delays(self, conn: Connection) -> None:
        """kombu's delay levels (shared by the vhost), and a way back to each of our queues:
        the delivery exchange forwards `#._retry.<queue>` to our exchange, which has the
        queue bound to that key alone."""
        prefix = self.topology.delay_prefix
        declare_native_delayed_delivery_exchanges_and_queues(
            conn, "quorum" if self.quorum else "classic", prefix=prefix
        )
        for spec in self.topology.queues:
            name = self.topology.queue_name(spec)
            addressed = Queue(name, self.topology.exchange, routing_key=retry_key(name))
            bind_queue_to_native_delayed_delivery_exchange(conn, addressed, prefix=prefix)

    def queue(self, spec: QueueSpec) -> Queue:
        """The kombu queue for a spec, with this broker's arguments (call after declare)."""
        return self.topology.queue(spec, quorum=self.quorum, delayed=self.native_delays)

    def publish(
        self,
        topic: str,
        key: str | None,
        payload: Mapping[str, Any],
        message_id: str,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Publish to the topic exchange; returns once the broker has confirmed it."""
        self.send(
            envelope(message_id, topic, key, payload),
            exchange=self.topology.exchange.name,
            routing_key=topic,
            headers=headers,
        )

    def publish_later(
        self, queue_name: str, body: Mapping[str, Any], headers: Mapping[str, Any], delay: float
    ) -> None:
        """Put a message back on one queue (not its whole topic) after `delay` seconds."""
        if self.native_delays:
            seconds = min(max(1, math.ceil(delay)), MAX_DELAY_SECONDS)
            self.send(
                body,
                exchange=level_name(MAX_LEVEL, self.topology.delay_prefix),
                routing_key=calculate_routing_key(seconds, retry_key(queue_name)),
                headers=headers,
            )
            return
        body, headers = dict(body), dict(headers)
        self._delay_timer().call_later(
            max(delay, 0.0),
            lambda: self.send(body, exchange="", routing_key=queue_name, headers=headers),
        )

    def send(
        self,
        body: Mapping[str, Any],
        *,
        exchange: str,
        routing_key: str,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """One persistent JSON message through this thread's producer (confirmed on amqp)."""
        self._producer().publish(
            dict(body),
            exchange=exchange,
            routing_key=routing_key,
            headers=dict(headers or {}),
            serializer="json",
            delivery_mode=PERSISTENT,
            mandatory=self.native_delays,  # RabbitMQ returns what no queue takes: log it
            message_id=body.get("message_id"),
            retry=True,
            retry_policy=PUBLISH_RETRY,
            confirm_timeout=CONFIRM_TIMEOUT,
        )

    def _producer(self) -> Producer:
        if self._closed:
            raise RuntimeError("bus is closed")
        producer: Producer | None = getattr(self._local, "producer", None)
        if producer is None:
            conn = self.connection()
            with self._lock:
                if self._closed:
                    raise RuntimeError("bus is closed")
                self._connections.append(conn)
            producer = Producer(self.connect(conn), on_return=self._unroutable)
            self._local.producer = producer
        return producer

    def _unroutable(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        """No queue is bound to this topic: the broker drops it. That is a configuration
        error (a connector without its dispatch queue), worth an error in the log; the
        work itself is in the database, where the sweeps find it."""
        message_id = getattr(message, "properties", {}).get("message_id")
        log.error(
            "unroutable message %s: exchange %r, routing key %r (%s)",
            message_id,
            exchange,
            routing_key,
            exc,
        )

    def _delay_timer(self) -> _Timer:
        with self._lock:
            if self._timer is None:
                self._timer = _Timer()
                self._timer.start()
            return self._timer

    def close(self) -> None:
        """Stop the delay timer and close every connection this bus opened."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
            connections, self._connections = self._connections, []
        if timer is not None:
            dropped = timer.stop()
            timer.join(timeout=5)
            if dropped:
                log.warning("%d delayed message(s) dropped at shutdown; sweeps recover", dropped)
        for conn in connections:
            try:
                conn.release()
            except Exception:  # closing a dead connection may fail; nothing to do
                log.debug("closing a broker connection failed", exc_info=True)
