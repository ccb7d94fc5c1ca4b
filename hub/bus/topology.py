"""Exchanges, queues and bindings of the hub's bus, as data.

One topic exchange carries every notification; each consumer group has a durable queue
bound to the topics it cares about. The queue list is a function of the configured
connectors, so adding a department's system (a YAML file) adds its dispatch queue.

On RabbitMQ the queues are quorum queues (3.10+, replicated, at-least-once dead-lettering
of the delay queues) that dead-letter rejected messages to `<exchange>.dlx`; the memory
transport ignores queue arguments, so the same objects work on both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kombu import Exchange, Queue, binding

EXCHANGE = "jingkai"
#: Routing-key prefix that brings a delayed message back to one queue (see retry_key).
RETRY_PREFIX = "_retry"
#: Topics intake and the workflow publish on; the queues below bind to them.
TOPIC_RECEIVED = "work_order.received"
TOPIC_REROUTE = "work_order.reroute"


@dataclass(frozen=True)
class RetryPolicy:
    """How often a queue's handler is tried, and how long it waits in between.

    A failed attempt `n` waits `first_delay * 2**(n-1)` seconds, at most `max_delay`;
    after `max_attempts` the message becomes a dead letter. `Defer` does not count as an
    attempt, but waits at least `min_defer` and at most `max_defers` times, so a handler
    that always defers cannot spin. On RabbitMQ delays are whole seconds (at least one).
    """

    max_attempts: int = 5
    first_delay: float = 2.0
    max_delay: float = 300.0
    min_defer: float = 1.0
    max_defers: int = 240

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_defers < 0:
            raise ValueError("max_attempts must be ≥ 1 and max_defers ≥ 0")
        if self.first_delay < 0 or self.max_delay < self.first_delay or self.min_defer < 0:
            raise ValueError("delays must be ≥ 0 and max_delay ≥ first_delay")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)  # 2**62 s is beyond any cap anyway
        return min(self.first_delay * math.pow(2, exponent), self.max_delay)


@dataclass(frozen=True)
class QueueSpec:
    """A queue: its name (also the consumer name in processed_messages) and its topics."""

    name: str
    topics: tuple[str, ...]
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def queue_specs(
    connectors: Iterable[str] = (), retry: RetryPolicy | None = None
) -> tuple[QueueSpec, ...]:
    """The hub's queues: routing, one dispatch queue per connector (and the inbox), the rest.

    `dispatch.<name>` carries commands for one department system, so a slow or broken one
    delays no other. `retry` replaces the default policy of every queue (tests use short
    delays); per-queue policies can be set with `dataclasses.replace` on the result.
    """
    policy = retry or RetryPolicy()
    names = sorted({*connectors, "inbox"})
    return (
        QueueSpec("route", (TOPIC_RECEIVED, TOPIC_REROUTE), policy),
        *(QueueSpec(f"dispatch.{name}", (f"dispatch.{name}",), policy) for name in names),
        QueueSpec("feedback", ("feedback.*",), policy),
        QueueSpec("notice", ("notice.*",), policy),
        QueueSpec("reply", ("reply.*",), policy),
    )


@dataclass(frozen=True)
class Topology:
    """Names and kombu entities for one set of queues.

    `prefix` goes in front of every exchange and queue name, so several hubs (or tests) can
    share a RabbitMQ virtual host. `delay_prefix` names kombu's native delayed-delivery
    exchanges and queues, which any number of topologies in a vhost share.
    """

    queues: tuple[QueueSpec, ...]
    prefix: str = ""
    delay_prefix: str = EXCHANGE

    def __post_init__(self) -> None:
        names = [q.name for q in self.queues]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate queue names: {names}")

    @property
    def exchange(self) -> Exchange:
        return Exchange(f"{self.prefix}{EXCHANGE}", type="topic", durable=True)

    @property
    def dead_letter_exchange(self) -> Exchange:
        return Exchange(f"{self.prefix}{EXCHANGE}.dlx", type="topic", durable=True)

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.prefix}{EXCHANGE}.dead"

    def spec(self, name: str) -> QueueSpec:
        for spec in self.queues:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def queue_name(self, spec: QueueSpec) -> str:
        """The broker's name of a queue (the spec's name behind the prefix)."""
        return f"{self.prefix}{spec.name}"

    def queue(self, spec: QueueSpec, *, quorum: bool, delayed: bool) -> Queue:
        """The kombu queue: its topic bindings, and its retry binding when `delayed`.

        The retry binding (`#._retry.<queue>`) catches messages coming back from kombu's
        delay queues addressed to this queue alone, not to every queue of the topic.
        """
        name = self.queue_name(spec)
        keys = [*spec.topics, f"#.{retry_key(name)}"] if delayed else list(spec.topics)
        return Queue(
            name,
            bindings=[binding(self.exchange, routing_key=key) for key in keys],
            durable=True,
            queue_arguments=self._arguments(quorum, dead_letters=True),
        )

    def dead_letter_queue(self, *, quorum: bool) -> Queue:
        """Where RabbitMQ puts rejected messages: every topic, kept until an admin looks."""
        return Queue(
            self.dead_letter_queue_name,
            exchange=self.dead_letter_exchange,
            routing_key="#",
            durable=True,
            queue_arguments=self._arguments(quorum, dead_letters=False),
        )

    def _arguments(self, quorum: bool, *, dead_letters: bool) -> dict[str, Any]:
        arguments: dict[str, Any] = {"x-queue-type": "quorum"} if quorum else {}
        if dead_letters:
            arguments["x-dead-letter-exchange"] = self.dead_letter_exchange.name
        return arguments


def retry_key(queue_name: str) -> str:
    """The routing key that addresses one queue through the delay exchanges."""
    return f"{RETRY_PREFIX}.{queue_name}"
