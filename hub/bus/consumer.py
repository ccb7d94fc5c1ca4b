"""Consumers: run a handler per queue, once per message id, with retries and dead letters.

Delivery is at least once (a relay may republish after a crash, a consumer may die before
its ack), so every consumer remembers the message ids it has settled in
`processed_messages` and skips them. A handler that raises is retried with exponential
backoff; after the queue's `max_attempts` the message becomes a row in `dead_letters`
(source `bus`, stream = queue) — `jingkai dlq replay` sends it round again — and on
RabbitMQ it is also rejected to the dead-letter exchange. `Defer` means "not now": the
message comes back later without using up an attempt.

The handler runs outside any transaction of ours and the processed row is written after it
returns, so a crash in between runs it again: handlers must be idempotent themselves.

A `Batch` handler takes every message already waiting (up to its size) at once, so one
transaction can carry many orders; each message still gets its own outcome — done, retry,
defer or dead letter — exactly as a single handler's would. It may return the outcomes as
a Future: the consumer then takes its next batch at once and settles this one (acks it,
in order) when the Future is done — a dispatcher sends the next orders while the last
ones are being recorded.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from kombu import Consumer
from kombu.message import Message as KombuMessage
from kombu.mixins import ConsumerMixin
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from hub.bus import memory
from hub.bus.broker import Bus
from hub.bus.errors import describe
from hub.bus.ledger import Ledger
from hub.bus.topology import QueueSpec
from hub.model.base import utcnow
from hub.store.bulk import select_in
from hub.store.db import transaction
from hub.store.dead_letters import add_dead_letter
from hub.store.schema import processed_messages

log = logging.getLogger(__name__)

BUS_SOURCE = "bus"
ATTEMPT_HEADER = "x-hub-attempt"
DEFERS_HEADER = "x-hub-defers"
#: How long a consumer blocks on the broker before it looks at its stop flag (an
#: in-process consumer is woken at once by `stop`).
SAFETY_INTERVAL = 0.25
#: How long a consumer with messages in hand waits for more before it handles them.
GATHER_SECONDS = 0.001
#: Batches a consumer may have handed on but not settled; with one more it waits.
PIPELINED_BATCHES = 2


@dataclass(frozen=True)
class Message:
    """What a handler sees: the outbox row's identity and content, and which try this is."""

    message_id: str
    topic: str
    key: str | None
    payload: dict[str, Any]
    attempt: int = 1


Handler = Callable[[Message], None]
#: A delivery as the broker gave it, and what it carries.
Gathered = tuple[KombuMessage, Message]
#: One outcome per message, in order: None when done, else what the handler raised for it.
Outcomes = list[BaseException | None]


@dataclass(frozen=True)
class Batch:
    """A handler for many messages at once (say, routing them in one transaction)."""

    handle: Callable[[list[Message]], Outcomes | Future[Outcomes]]
    size: int = 64


def one_by_one(handler: Handler) -> Batch:
    """A plain handler as a batch of one: each message settled before the next is taken."""

    def handle(messages: list[Message]) -> Outcomes:
        outcomes: Outcomes = []
        for message in messages:
            try:
                handler(message)
                outcomes.append(None)
            except Exception as exc:  # settled per message by the consumer
                outcomes.append(exc)
        return outcomes

    return Batch(handle, size=1)


class Retry(Exception):
    """Raised by a handler: this attempt failed, try again (after `delay` seconds if given)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class Defer(Exception):
    """Raised by a handler: not now and not a failure (say, the target's circuit is open)."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"deferred {delay}s")
        self.delay = delay
        self.reason = reason


def _header(headers: Mapping[str, Any] | None, name: str, default: int) -> int:
    try:
        return int((headers or {}).get(name, default))
    except (TypeError, ValueError):
        return default


def decode(body: Any, headers: Mapping[str, Any] | None) -> Message:
    """The envelope the relay published; ValueError when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        raise ValueError("body is not a hub envelope")
    message_id, topic, key = body.get("message_id"), body.get("topic"), body.get("key")
    if not isinstance(message_id, str) or not message_id or not isinstance(topic, str):
        raise ValueError("envelope without message_id or topic")
    if key is not None and not isinstance(key, str):
        raise ValueError("envelope key is not text")
    attempt = max(1, _header(headers, ATTEMPT_HEADER, 1))
    return Message(message_id, topic, key, body["payload"], attempt)


def _original(message: Message) -> str:
    body = {
        "message_id": message.message_id,
        "topic": message.topic,
        "key": message.key,
        "payload": message.payload,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def settled_ids(engine: Engine, consumer: str, message_ids: list[str]) -> set[str]:
    """Which of these ids this consumer has settled before."""
    with engine.connect() as conn:
        # through the driver: a statement with an expanding IN is compiled again each time
        found = select_in(
            conn,
            processed_messages,
            ("message_id",),
            "message_id",
            message_ids,
            where={"consumer": consumer},
        )
        return {row[0] for row in found}


def _settle(conn: Any, consumer: str, message_ids: list[str]) -> None:
    now = utcnow()
    conn.execute(
        insert(processed_messages),
        [{"consumer": consumer, "message_id": i, "processed_at": now} for i in message_ids],
    )


def mark_settled(engine: Engine, consumer: str, message_ids: list[str]) -> None:
    """Remember message ids as done for this consumer; a concurrent twin may beat us to
    some of them, then each is written on its own."""
    if not message_ids:
        return
    try:
        with transaction(engine) as conn:
            _settle(conn, consumer, message_ids)
    except IntegrityError:
        if len(message_ids) == 1:
            log.debug("message %s already settled by %s", message_ids[0], consumer)
            return
        for message_id in message_ids:
            mark_settled(engine, consumer, [message_id])


class QueueConsumer(ConsumerMixin):
    """One queue, one handler, one thread; reconnects on its own (kombu's ConsumerMixin).

    Deliveries are gathered while more are waiting (up to the handler's batch size), then
    handled together (what the handlers write to the outbox is handed to this process's
    relay as they commit: hub.store.outbox). With a `ledger` (the relay's, when one runs
    in this process) the settled ids are written with its next round instead of in a
    transaction of their own per batch.
    """

    # Give up connecting after a few tries, so `run` comes round and sees should_stop
    # (kombu's default, None, retries for ever).
    connect_max_retries = 3  # type: ignore[assignment]

    def __init__(
        self,
        engine: Engine,
        bus: Bus,
        spec: QueueSpec,
        handler: Handler | Batch,
        *,
        prefetch: int = 8,
        ledger: Ledger | None = None,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.spec = spec
        self.batch = handler if isinstance(handler, Batch) else one_by_one(handler)
        # room for the batches still being settled and a full one more
        self.prefetch = max(prefetch, self.batch.size * (PIPELINED_BATCHES + 1))
        self.ledger = ledger
        self.connection = bus.connection()
        self.queue_name = bus.topology.queue_name(spec)
        self.safety_interval = SAFETY_INTERVAL
        self._draining: Any = None
        self._gathered: list[Gathered] = []
        #: Batches whose outcomes are still to come, oldest first.
        self._pending: deque[tuple[list[Gathered], Future[Outcomes]]] = deque()

    @property
    def name(self) -> str:
        """The consumer's name in processed_messages: the queue's name without prefix."""
        return self.spec.name

    def get_consumers(self, consumer_class: Any, channel: Any) -> list[Consumer]:
        return [
            consumer_class(
                queues=[self.bus.queue(self.spec).bind(channel)],
                on_message=self.on_message,
                accept=["json"],
                prefetch_count=self.prefetch,
            )
        ]

    def on_connection_error(self, exc: BaseException, interval: float) -> None:
        log.warning("queue %s: broker unreachable (%s); retry in %.1fs", self.name, exc, interval)

    def on_decode_error(self, message: KombuMessage, exc: Exception) -> None:
        self._dead_letter(message, None, f"无法解码 (undecodable body): {exc}")

    def run_until_stopped(self) -> None:
        """`run`, restarted after anything unexpected, until `should_stop` is set."""
        while not self.should_stop:
            try:
                self.run(safety_interval=self.safety_interval)
            except Exception as exc:
                log.error(
                    "queue %s: consumer loop failed (%s); restarting", self.name, describe(exc)
                )
                time.sleep(1)

    def stop(self) -> None:
        self.should_stop = True
        transport = getattr(self._draining, "transport", None)
        if isinstance(transport, memory.Transport):
            transport.interrupt()

    def consume(
        self,
        limit: int | None = None,
        timeout: float | None = None,
        safety_interval: float = 1,
        **kwargs: Any,
    ) -> Iterator[None]:
        """kombu's loop, except that what a drain delivered is gathered, topped up with
        whatever else is already waiting, and handled as one batch."""
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            self._draining = conn
            try:
                while not self.should_stop:
                    try:
                        conn.drain_events(timeout=safety_interval)
                    except TimeoutError:
                        conn.heartbeat_check()
                        self._settle_finished()
                        yield
                        continue
                    while self._gathered and len(self._gathered) < self.batch.size:
                        try:
                            conn.drain_events(timeout=GATHER_SECONDS)
                        except TimeoutError:
                            break
                    self.flush()
                    self._settle_finished()
                    yield
            finally:
                self._settle_all()

    def on_message(self, message: KombuMessage) -> None:
        """Gather one delivery for the next batch (an undecodable one is a dead letter)."""
        try:
            msg = decode(message.payload, message.headers)
        except Exception as exc:  # any undecodable body becomes a dead letter
            self._dead_letter(message, None, f"无法解析 (malformed message): {exc}")
            return
        self._gathered.append((message, msg))

    def flush(self) -> None:
        """Settle what was gathered: skip, handle, retry, defer or dead-letter each; ack."""
        gathered, self._gathered = self._gathered, []
        if not gathered:
            return
        try:
            ids = [m.message_id for _, m in gathered]
            done = settled_ids(self.engine, self.name, ids)
            if self.ledger is not None:
                done |= self.ledger.settled_here(self.name, ids)
        except Exception as exc:  # the database is away: all of them come back later
            for message, msg in gathered:
                self._failed(message, msg, describe(exc), None)
            return
        todo: list[Gathered] = []
        for message, msg in gathered:
            if msg.message_id in done:
                log.info("queue %s: %s already processed; skipped", self.name, msg.message_id)
                message.ack()
            else:
                todo.append((message, msg))
        if todo:
            self._handle(todo)

    def _handle(self, todo: list[Gathered]) -> None:
        try:
            outcomes = self.batch.handle([msg for _, msg in todo])
        except Exception as exc:  # the whole batch failed: each message is retried
            outcomes = [exc] * len(todo)
        if not isinstance(outcomes, Future):
            self._settle(todo, outcomes)
            return
        self._pending.append((todo, outcomes))
        outcomes.add_done_callback(self._wake)
        while len(self._pending) > PIPELINED_BATCHES:
            self._settle_oldest()

    def _settle_finished(self) -> None:
        """Settle the handed-on batches whose outcomes have come, in order."""
        while self._pending and self._pending[0][1].done():
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        todo, later = self._pending.popleft()
        try:
            outcomes = later.result()
        except Exception as exc:  # the whole batch failed: each message is retried
            outcomes = [exc] * len(todo)
        self._settle(todo, outcomes)

    def _settle_all(self) -> None:
        """Stopping (or the connection failed): wait for every handed-on batch and settle
        it; a message that cannot be acked now is delivered again, which handlers allow."""
        while self._pending:
            try:
                self._settle_oldest()
            except Exception as exc:
                log.warning("queue %s: cannot settle a batch: %s", self.name, describe(exc))

    def _wake(self, _done: Future[Outcomes]) -> None:
        """A handed-on batch is done: an in-process consumer settles it now, not at the end
        of its wait (a RabbitMQ one within its safety interval)."""
        transport = getattr(self._draining, "transport", None)
        if isinstance(transport, memory.Transport):
            transport.interrupt()

    def _settle(self, todo: list[Gathered], outcomes: Outcomes) -> None:
        if len(outcomes) != len(todo):  # a handler's bug: each message is retried
            error = RuntimeError(f"{len(outcomes)} outcomes for {len(todo)} messages")
            outcomes = [error] * len(todo)
        succeeded = [
            msg.message_id for (_, msg), outcome in zip(todo, outcomes, strict=True) if not outcome
        ]
        try:
            if self.ledger is not None:
                self.ledger.settled(self.name, succeeded)
            else:
                mark_settled(self.engine, self.name, succeeded)
        except Exception as exc:  # not remembered: they run again, which handlers allow
            log.warning("queue %s: cannot settle %d: %s", self.name, len(succeeded), describe(exc))
        for (message, msg), outcome in zip(todo, outcomes, strict=True):
            if outcome is None:
                message.ack()
            else:
                self._settle_failure(message, msg, outcome)

    def _settle_failure(self, message: KombuMessage, msg: Message, exc: BaseException) -> None:
        if isinstance(exc, Defer):
            self._defer(message, msg, exc)
        elif isinstance(exc, Retry):
            self._failed(message, msg, exc.reason, exc.delay)
        else:  # a handler's failure is retried, not fatal
            log.warning(
                "queue %s: %s attempt %d failed: %s",
                self.name,
                msg.message_id,
                msg.attempt,
                describe(exc),
            )
            self._failed(message, msg, f"{type(exc).__name__}: {exc}", None)

    def _headers(self, message: KombuMessage, **changes: int) -> dict[str, Any]:
        return {**(message.headers or {}), **changes}

    def _defer(self, message: KombuMessage, msg: Message, exc: Defer) -> None:
        policy = self.spec.retry
        defers = _header(message.headers, DEFERS_HEADER, 0) + 1
        if defers > policy.max_defers:
            self._failed(message, msg, f"推迟次数过多 (deferred {defers - 1} times): {exc}", None)
            return
        delay = max(exc.delay, policy.min_defer)
        log.info("queue %s: %s deferred %.1fs (%s)", self.name, msg.message_id, delay, exc)
        headers = self._headers(message, **{DEFERS_HEADER: defers, ATTEMPT_HEADER: msg.attempt})
        self.bus.publish_later(self.queue_name, message.payload, headers, delay)
        message.ack()

    def _failed(
        self, message: KombuMessage, msg: Message, reason: str, delay: float | None
    ) -> None:
        policy = self.spec.retry
        if msg.attempt >= policy.max_attempts:
            self._dead_letter(
                message,
                msg,
                f"{msg.attempt} 次尝试后失败 (failed after {msg.attempt} attempts): {reason}",
            )
            return
        wait = policy.backoff(msg.attempt) if delay is None else max(delay, 0.0)
        log.info(
            "queue %s: %s retry %d/%d in %.1fs (%s)",
            self.name,
            msg.message_id,
            msg.attempt + 1,
            policy.max_attempts,
            wait,
            reason,
        )
        headers = self._headers(message, **{ATTEMPT_HEADER: msg.attempt + 1})
        self.bus.publish_later(self.queue_name, message.payload, headers, wait)
        message.ack()

    def _dead_letter(self, message: KombuMessage, msg: Message | None, reason: str) -> None:
        """Keep it in dead_letters (and settle its id), then reject it to the broker's DLX.

        If the database cannot take the letter now, the message comes back after the
        longest backoff instead: it is never dropped on a database outage.
        """
        payload: str | bytes = _original(msg) if msg else message.body
        try:
            with transaction(self.engine) as conn:
                add_dead_letter(
                    conn,
                    source=BUS_SOURCE,
                    stream=self.name,
                    payload=payload,
                    payload_format="json" if msg else "text",
                    reason=reason,
                )
                if msg is not None:
                    _settle(conn, self.name, [msg.message_id])
        except IntegrityError:
            log.info("queue %s: %s was settled meanwhile", self.name, msg and msg.message_id)
            message.ack()
            return
        except Exception as exc:
            log.error(
                "queue %s: cannot store a dead letter (%s); message kept", self.name, describe(exc)
            )
            if msg is None:  # not hub work; RabbitMQ keeps it in the dead-letter queue
                message.reject()
                return
            self.bus.publish_later(
                self.queue_name, message.payload, message.headers or {}, self.spec.retry.max_delay
            )
            message.ack()
            return
        log.error("queue %s: dead letter: %s", self.name, reason)
        message.reject()
