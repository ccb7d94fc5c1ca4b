"""Keep the cyclic garbage collector off what a hub process loads once and keeps.

A serving worker holds some 140,000 long-lived objects: policies, mappings, the WSDL
models zeep builds, SQLAlchemy's tables and caches. Every full collection walks all of
them — measured at 300 orders/s: 90–150 ms with the GIL held, twice in ten seconds, a
pause that every request and delivery of the process waits out (the flow bench's p99).
They stay for the process's life, so once loaded they are moved out of the collector's
sight (`gc.freeze`); what the process makes afterwards is collected as usual.

The cost: a reference cycle that is alive when frozen and dropped later is never
collected (objects without cycles are still freed by their reference counts). Hence only
at start-up and after loading something kept for good (a connector's adapter), and only
in processes that serve (`jingkai serve`, `jingkai worker`) — not in library use or
tests, which build and drop whole hubs.
"""

from __future__ import annotations

import gc
import os

#: Set by `jingkai serve` and `jingkai worker` for their processes (the API workers too).
SETTLE_ENV = "HUB_SETTLE_HEAP"


def settling() -> bool:
    return os.environ.get(SETTLE_ENV) == "1"


def settle_loaded() -> None:
    """Freeze what is alive now, after collecting what is garbage already (a full
    collection: call where a pause of that size costs nothing, as at start-up)."""
    if settling():
        gc.collect()
        gc.freeze()


def settle_young() -> None:
    """The same after loading something while serving: only the young generations are
    collected first (milliseconds), so a full collection's pause is not paid on a request."""
    if settling():
        gc.collect(1)
        gc.freeze()
