"""The message bus (kombu): topology, broker, outbox relay, consumers and their runner.

The hub database is the system of record; the bus only carries notifications of work
already stored, so every step here may repeat and any message may be lost to a crash of
the in-process broker without losing work (the sweeps find it).
"""

from hub.bus.broker import Bus
from hub.bus.consumer import (
    BUS_SOURCE,
    Batch,
    Defer,
    Handler,
    Message,
    Outcomes,
    QueueConsumer,
    Retry,
)
from hub.bus.relay import Relay, relay_once
from hub.bus.runner import BusRunner, start_bus, topology_for
from hub.bus.topology import QueueSpec, RetryPolicy, Topology, queue_specs

__all__ = [
    "BUS_SOURCE",
    "Batch",
    "Bus",
    "BusRunner",
    "Defer",
    "Handler",
    "Message",
    "Outcomes",
    "QueueConsumer",
    "QueueSpec",
    "Relay",
    "Retry",
    "RetryPolicy",
    "Topology",
    "queue_specs",
    "relay_once",
    "start_bus",
    "topology_for",
]
