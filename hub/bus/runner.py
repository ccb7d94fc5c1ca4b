"""Start the relay and the consumers in daemon threads, and stop them cleanly.

`jingkai worker` runs this until it is told to stop; `jingkai serve` runs the same in each
API process for the embedded default (memory transport: each process relays and consumes
what it committed itself).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import Engine

from hub.bus.broker import Bus
from hub.bus.consumer import Batch, Handler, QueueConsumer
from hub.bus.relay import POLL_SECONDS, Relay
from hub.bus.topology import RetryPolicy, Topology, queue_specs
from hub.config import Settings

log = logging.getLogger(__name__)

JOIN_SECONDS = 10.0
RELAY_THREAD = "hub-bus-relay"


def connector_names(settings: Settings) -> list[str]:
    """One dispatch queue per connector file (its name is the file's stem)."""
    return sorted(path.stem for path in settings.connectors_dir.glob("*.yaml"))


def topology_for(settings: Settings, retry: RetryPolicy | None = None) -> Topology:
    return Topology(queue_specs(connector_names(settings), retry), prefix=settings.bus_prefix)


@dataclass
class BusRunner:
    """What start_bus started; `stop()` ends the threads and closes the connections."""

    bus: Bus
    relay: Relay | None
    consumers: tuple[QueueConsumer, ...]
    threads: list[threading.Thread] = field(default_factory=list)

    def wake(self) -> None:
        """Let the relay poll now (rows this process commits are handed to it anyway)."""
        if self.relay is not None:
            self.relay.wake()

    def stop(self, timeout: float = JOIN_SECONDS) -> None:
        """Stop consuming and let handlers in progress finish; then the relay publishes
        what they wrote and writes its ledger; then the bus is closed."""
        for consumer in self.consumers:
            consumer.stop()
        self._join([t for t in self.threads if t.name != RELAY_THREAD], timeout)
        if self.relay is not None:
            self.relay.stop()
        self._join([t for t in self.threads if t.name == RELAY_THREAD], timeout)
        self.bus.close()

    @staticmethod
    def _join(threads: list[threading.Thread], timeout: float) -> None:
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("bus thread %s did not stop within %.0fs", thread.name, timeout)

    def __enter__(self) -> BusRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def select_queues(
    topology: Topology, handlers: Mapping[str, Handler | Batch], queues: Collection[str] | None
) -> list[str]:
    """The queues to consume: `queues` (default: all with a handler); ValueError if unknown
    or without a handler."""
    known = {spec.name for spec in topology.queues}
    unknown = sorted((set(queues or ()) | set(handlers)) - known)
    if unknown:
        raise ValueError(f"未知队列 (unknown queues): {', '.join(unknown)}")
    if queues is None:
        return [spec.name for spec in topology.queues if spec.name in handlers]
    missing = sorted(set(queues) - set(handlers))
    if missing:
        raise ValueError(f"这些队列没有处理器 (no handler for queues): {', '.join(missing)}")
    return [spec.name for spec in topology.queues if spec.name in queues]


def start_bus(
    engine: Engine,
    settings: Settings,
    handlers: Mapping[str, Handler | Batch],
    queues: Collection[str] | None = None,
    *,
    topology: Topology | None = None,
    relay: bool = True,
    relay_interval: float = POLL_SECONDS,
) -> BusRunner:
    """Declare the topology, then start one consumer thread per queue and the relay loop.

    `handlers` maps queue names to handlers; `queues` picks which of them to consume
    (default: every queue that has a handler). The topology defaults to the hub's queues
    for the configured connectors. Raises ValueError for unknown or unhandled queues.
    """
    topology = topology or topology_for(settings)
    names = select_queues(topology, handlers, queues)
    bus = Bus(settings.broker_url, topology)
    try:
        bus.declare()
    except Exception:
        bus.close()
        raise
    relay_loop = Relay(engine, bus, interval=relay_interval) if relay else None
    ledger = relay_loop.ledger if relay_loop is not None else None
    consumers = tuple(
        QueueConsumer(engine, bus, topology.spec(name), handlers[name], ledger=ledger)
        for name in names
    )
    runner = BusRunner(bus, relay_loop, consumers)
    for consumer in consumers:
        thread = threading.Thread(
            target=consumer.run_until_stopped, name=f"hub-bus-{consumer.name}", daemon=True
        )
        runner.threads.append(thread)
        thread.start()
    if relay_loop is not None:
        thread = threading.Thread(target=relay_loop.run, name=RELAY_THREAD, daemon=True)
        runner.threads.append(thread)
        thread.start()
    log.info(
        "bus started on %s: relay=%s, consuming %s",
        bus.safe_url,
        relay,
        ", ".join(names) or "nothing",
    )
    return runner
