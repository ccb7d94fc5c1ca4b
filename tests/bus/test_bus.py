"""The bus against real brokers (memory, RabbitMQ) and real databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest
from bus_helpers import (
    FAST,
    ByKey,
    Recorder,
    add_outbox,
    drain,
    letters,
    private_bus,
    processed,
    unpublished,
    wait_until,
)
from sqlalchemy import Engine, select

from hub.bus import (
    Batch,
    Bus,
    BusRunner,
    Defer,
    Handler,
    Message,
    Outcomes,
    Retry,
    RetryPolicy,
    relay_once,
    start_bus,
)
from hub.bus.topology import TOPIC_RECEIVED, queue_specs
from hub.config import Settings
from hub.store.schema import outbox


@pytest.fixture
def bus(broker_url: str) -> Iterator[Bus]:
    with private_bus(broker_url) as declared:
        yield declared


@pytest.fixture
def bus_settings(settings: Settings, broker_url: str) -> Settings:
    return replace(settings, broker_url=broker_url)


def run(
    engine: Engine, settings: Settings, bus: Bus, handler: Handler | Batch, **kw: Any
) -> BusRunner:
    """Consume `route` with `handler` on the test's private topology."""
    return start_bus(engine, settings, {"route": handler}, topology=bus.topology, **kw)


def with_policy(bus: Bus, policy: RetryPolicy) -> Bus:
    """The same private queues with another retry policy (it lives in the topology)."""
    specs = tuple(replace(spec, retry=policy) for spec in bus.topology.queues)
    bus.topology = replace(bus.topology, queues=specs)
    return bus


def test_queues_follow_the_connectors() -> None:
    specs = {s.name: s.topics for s in queue_specs(["weaver_env", "seeyon_urban"])}
    assert specs == {
        "route": ("work_order.received", "work_order.reroute"),
        "dispatch.inbox": ("dispatch.inbox",),
        "dispatch.seeyon_urban": ("dispatch.seeyon_urban",),
        "dispatch.weaver_env": ("dispatch.weaver_env",),
        "feedback": ("feedback.*",),
        "notice": ("notice.*",),
        "reply": ("reply.*",),
    }
    assert FAST.backoff(1) == 0.05 and FAST.backoff(2) == 0.1 and FAST.backoff(9) == 0.2


def test_relay_publishes_each_row_once_and_marks_it(engine: Engine, bus: Bus) -> None:
    received = add_outbox(engine, 5)
    dispatched = add_outbox(engine, 1, topic="dispatch.weaver_env", payload={"unit": "JKQ-HBJ"})
    assert relay_once(engine, bus) == 6
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    assert all(r.published_at is not None and r.attempts == 0 for r in rows)
    assert relay_once(engine, bus) == 0

    route = drain(bus, bus.topology.queue_name(bus.topology.spec("route")))
    assert [b["message_id"] for b in route] == received  # in id order, each once
    assert route[0] == {
        "message_id": received[0],
        "topic": TOPIC_RECEIVED,
        "key": "JK20250100000000",
        "payload": {"n": 0},
    }
    weaver = drain(bus, bus.topology.queue_name(bus.topology.spec("dispatch.weaver_env")))
    assert [(b["message_id"], b["payload"]) for b in weaver] == [
        (dispatched[0], {"unit": "JKQ-HBJ"})
    ]


def test_a_failed_publish_is_recorded_and_tried_again(
    engine: Engine, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = add_outbox(engine, 2)

    def broker_down(*_: object, **__: object) -> None:
        raise ConnectionError("broker down")

    with monkeypatch.context() as patch:
        patch.setattr(bus, "publish", broker_down)
        assert relay_once(engine, bus) == 0
    with engine.connect() as conn:
        rows = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    assert [(r.attempts, r.last_error, r.published_at) for r in rows] == [
        (1, "ConnectionError: broker down", None),
        (0, None, None),  # the batch stops at the first failure, keeping the order
    ]
    assert relay_once(engine, bus) == 2
    queue = bus.topology.queue_name(bus.topology.spec("route"))
    assert [b["message_id"] for b in drain(bus, queue)] == [first, second]


def test_a_message_delivered_twice_is_processed_once(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    handler = Recorder()
    with run(engine, bus_settings, bus, handler, relay=False):
        bus.publish(TOPIC_RECEIVED, "JK1", {"n": 1}, "m-1")
        bus.publish(TOPIC_RECEIVED, "JK1", {"n": 1}, "m-1")  # a relay that crashed before marking
        bus.publish(TOPIC_RECEIVED, "JK2", {"n": 2}, "m-2")
        wait_until(lambda: len(processed(engine)) == 2, what="both ids processed")
        wait_until(lambda: len(handler.calls) >= 2)
    assert handler.ids() == ["m-1", "m-2"]
    assert sorted(processed(engine)) == ["m-1", "m-2"]


def test_failures_are_retried_and_in_the_end_dead_lettered(
    engine: Engine, bus_settings: Settings, bus: Bus, broker_url: str
) -> None:
    """Two messages side by side (RabbitMQ delays take a whole second): one fails once and
    then succeeds, the other fails every time and becomes a dead letter."""
    with_policy(bus, replace(FAST, max_attempts=2))
    flaky = Recorder(Retry("OA 系统忙 (busy)", delay=0.01))
    broken = Recorder(then=ValueError("电话 13812341234 无效"))
    (flaky_id,) = add_outbox(engine, 1, key="flaky")
    (broken_id,) = add_outbox(engine, 1, payload={"phone": "13812341234"}, key="broken")
    with run(engine, bus_settings, bus, ByKey(flaky=flaky, broken=broken), relay_interval=0.05):
        wait_until(lambda: flaky_id in processed(engine), what="processed after a retry")
        wait_until(lambda: len(letters(engine)) == 1, what="a dead letter")
    assert flaky.attempts() == [1, 2] and broken.attempts() == [1, 2]
    (letter,) = letters(engine)
    assert (letter.source, letter.stream, letter.payload_format) == ("bus", "route", "json")
    assert json.loads(letter.payload) == {
        "message_id": broken_id,
        "topic": TOPIC_RECEIVED,
        "key": "broken",
        "payload": {"phone": "13812341234"},
    }
    assert "2 次尝试后失败 (failed after 2 attempts): ValueError: 电话" in letter.reason
    # Settled: a redelivery of the dead message will not run the handler again.
    assert sorted(processed(engine)) == sorted([flaky_id, broken_id])
    if broker_url.startswith("amqp"):
        dead = bus.topology.dead_letter_queue_name
        wait_until(
            lambda: [b["message_id"] for b in drain(bus, dead)] == [broken_id],
            timeout=5,
            what="the message in RabbitMQ's dead-letter queue",
        )


def test_defer_uses_up_no_attempt_but_is_bounded(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    with_policy(bus, replace(FAST, max_attempts=1, max_defers=1))
    once = Recorder(Defer(0.01, "circuit open"), None)
    always = Recorder(then=Defer(0, "circuit open"))
    (once_id,) = add_outbox(engine, 1, key="once")
    add_outbox(engine, 1, key="always")
    with run(engine, bus_settings, bus, ByKey(once=once, always=always), relay_interval=0.05):
        wait_until(lambda: once_id in processed(engine), what="processed after a deferral")
        wait_until(lambda: len(letters(engine)) == 1, what="a dead letter")
    assert once.attempts() == [1, 1]  # with max_attempts=1: the deferral was no attempt
    assert always.attempts() == [1, 1]  # deferred once (max_defers), then counted as failed
    (letter,) = letters(engine)
    assert json.loads(letter.payload)["key"] == "always"
    assert "推迟次数过多 (deferred 1 times): circuit open" in letter.reason


def test_a_message_that_is_no_envelope_becomes_a_dead_letter(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    handler = Recorder()
    with run(engine, bus_settings, bus, handler, relay=False):
        bus.send(
            {"hello": "world"}, exchange=bus.topology.exchange.name, routing_key=TOPIC_RECEIVED
        )
        wait_until(lambda: len(letters(engine)) == 1, what="a dead letter")
    assert handler.calls == []
    (letter,) = letters(engine)
    assert (letter.stream, letter.payload_format) == ("route", "text")
    assert json.loads(letter.payload) == {"hello": "world"}
    assert letter.reason.startswith("无法解析 (malformed message)")


class CountingBus(Bus):
    """Counts what reaches the broker, to see whether two relays publish a row twice."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus.url, bus.topology)
        self.quorum = bus.quorum
        self.sent: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def publish(
        self, topic: str, key: str | None, payload: Any, message_id: str, headers: Any = None
    ) -> None:
        super().publish(topic, key, payload, message_id, headers)
        with self._count_lock:
            self.sent[message_id] += 1


def test_two_relays_at_once_process_each_message_once(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    ids = add_outbox(engine, 200)
    counting = CountingBus(bus)
    handler = Recorder()

    def relay() -> None:
        while relay_once(engine, counting, limit=20):
            pass

    try:
        with run(engine, bus_settings, bus, handler, relay=False):
            relays = [threading.Thread(target=relay) for _ in range(2)]
            for thread in relays:
                thread.start()
            for thread in relays:
                thread.join(60)
            assert unpublished(engine) == 0
            wait_until(lambda: len(processed(engine)) == 200, what="all 200 processed")
    finally:
        counting.close()
    assert set(counting.sent) == set(ids) and max(counting.sent.values()) == 1
    assert sorted(handler.ids()) == sorted(ids)  # each handled exactly once


class BatchRecorder:
    """A batch handler: records each batch it is given; the outcome of each message is
    chosen by its key (ok, defer-once, fail-once, broken), as a department system might."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str | None, int]]] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> Outcomes:
        with self._lock:
            self.batches.append([(m.key, m.attempt) for m in messages])
        outcomes: Outcomes = []
        for message in messages:
            if message.key == "fail-once" and message.attempt == 1:
                outcomes.append(Retry("OA 系统忙 (busy)", delay=0.01))
            elif message.key == "broken":
                outcomes.append(ValueError("坏数据 (bad data)"))
            else:
                outcomes.append(None)
        return outcomes


def test_a_batch_handler_gets_what_waits_at_once_and_each_message_its_own_outcome(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    """Twelve messages wait before the consumer starts: they arrive as one batch (not one by
    one); the good ones are settled together, a retried one comes back alone and succeeds,
    a broken one ends as a dead letter without holding the others back."""
    with_policy(bus, replace(FAST, max_attempts=2))
    good = add_outbox(engine, 10, key="ok")
    (retried,) = add_outbox(engine, 1, key="fail-once")
    (broken,) = add_outbox(engine, 1, key="broken")
    assert relay_once(engine, bus) == 12
    recorder = BatchRecorder()
    with run(engine, bus_settings, bus, Batch(recorder, size=64), relay=False):
        wait_until(lambda: len(processed(engine)) == 12, what="all twelve settled")
        wait_until(lambda: len(letters(engine)) == 1, what="the broken one dead-lettered")
    first = recorder.batches[0]
    assert len(first) > 1  # handed over together, not one by one
    assert sorted(key for batch in recorder.batches for key, n in batch if n == 1) == sorted(
        ["ok"] * 10 + ["fail-once", "broken"]
    )
    again = sorted((key, n) for batch in recorder.batches for key, n in batch if n == 2)
    assert again == [("broken", 2), ("fail-once", 2)]
    assert set(processed(engine)) == {*good, retried, broken}
    (letter,) = letters(engine)
    assert json.loads(letter.payload)["message_id"] == broken
    assert "ValueError: 坏数据" in letter.reason


def test_a_batch_handler_that_raises_sends_every_message_round_again(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    calls: list[int] = []

    def flaky(messages: list[Message]) -> Outcomes:
        calls.append(len(messages))
        if len(calls) == 1:
            raise ConnectionError("数据库暂不可用 (database away)")
        return [None] * len(messages)

    ids = add_outbox(engine, 5)
    assert relay_once(engine, bus) == 5
    with run(engine, bus_settings, bus, Batch(flaky, size=64), relay=False):
        wait_until(lambda: len(processed(engine)) == 5, what="all five settled on the retry")
    assert sorted(processed(engine)) == sorted(ids)
    assert sum(calls[1:]) == 5  # each came round again, nothing was lost or doubled


class LaterHandler:
    """A batch handler that answers later: a batch of first attempts gets a Future that the
    test completes with `answer` (a retry for messages keyed "again"); a batch of second
    attempts is answered at once."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str | None, int]]] = []
        self.later: list[tuple[list[Message], Future[Outcomes]]] = []
        self._lock = threading.Lock()

    def __call__(self, messages: list[Message]) -> Future[Outcomes]:
        answer: Future[Outcomes] = Future()
        with self._lock:
            self.batches.append([(m.key, m.attempt) for m in messages])
            if messages[0].attempt > 1:
                answer.set_result([None] * len(messages))
            else:
                self.later.append((messages, answer))
        return answer

    def handed(self) -> int:
        with self._lock:
            return sum(len(messages) for messages, _ in self.later)

    def answer(self, index: int) -> None:
        messages, later = self.later[index]
        later.set_result([Retry("忙 (busy)", 0.01) if m.key == "again" else None for m in messages])


def test_a_batch_answered_later_is_settled_in_order_and_the_next_one_goes_on_meanwhile(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    """The consumer takes its next batch while the last one's outcomes are still to come;
    nothing is settled before its own outcome, nor before the batches ahead of it; an
    outcome that comes later as a retry sends its message round again."""
    first = add_outbox(engine, 3, key="ok")
    assert relay_once(engine, bus) == 3
    handler = LaterHandler()
    with run(engine, bus_settings, bus, Batch(handler, size=64), relay=False):
        wait_until(lambda: handler.handed() == 3, what="the first messages handed on")
        second = add_outbox(engine, 2, key="again")
        assert relay_once(engine, bus) == 2
        wait_until(lambda: handler.handed() == 5, what="the next ones taken meanwhile")
        for index in range(1, len(handler.later)):
            handler.answer(index)
        time.sleep(0.4)  # longer than a consumer's wait: it would have settled by now
        assert processed(engine) == []  # none ahead of the first batch
        handler.answer(0)
        wait_until(lambda: len(processed(engine)) == 5, what="every message settled")
    assert sorted(processed(engine)) == sorted([*first, *second])
    again = sorted(key for batch in handler.batches for key, n in batch if n == 2)
    assert again == ["again", "again"]  # the retried ones, once more each


def test_stopping_waits_for_the_batches_still_to_be_answered(
    engine: Engine, bus_settings: Settings, bus: Bus
) -> None:
    ids = add_outbox(engine, 4)
    assert relay_once(engine, bus) == 4
    handler = LaterHandler()
    runner = run(engine, bus_settings, bus, Batch(handler, size=64), relay=False)
    wait_until(lambda: handler.handed() == 4, what="the messages handed on")
    stopping = threading.Thread(target=runner.stop)
    stopping.start()
    stopping.join(0.4)
    assert stopping.is_alive()  # the answers are still to come
    for index in range(len(handler.later)):
        handler.answer(index)
    stopping.join(15)
    assert not stopping.is_alive()
    assert sorted(processed(engine)) == sorted(ids)  # settled before the consumer ended
