"""kombu's in-process transport, woken by arrivals instead of polling.

kombu's `memory://` transport polls its queues: every idle consumer thread wakes every
polling interval to look, which cost an idle hub about a sixth of a core and added up to
one interval of latency per hop. Here a put wakes exactly the connections that consume
that queue, and an idle consumer sleeps until a message comes or its timeout ends.
The queues themselves stay kombu's (process-wide, shared by every memory connection).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kombu.transport import memory
from kombu.transport.virtual import Empty

_registry_lock = threading.Lock()
#: queue name → the wake-up events of the connections consuming it (replaced, never
#: mutated, so a put can read it without the lock).
_listeners: dict[str, frozenset[threading.Event]] = {}


def _wake(queue: str) -> None:
    for arrived in _listeners.get(queue, ()):
        arrived.set()


def _listen(arrived: threading.Event, old: frozenset[str], new: frozenset[str]) -> None:
    with _registry_lock:
        for queue in old - new:
            remaining = _listeners.get(queue, frozenset()) - {arrived}
            if remaining:
                _listeners[queue] = remaining
            else:
                _listeners.pop(queue, None)
        for queue in new - old:
            _listeners[queue] = _listeners.get(queue, frozenset()) | {arrived}


class Channel(memory.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        super()._put(queue, message, **kwargs)
        _wake(queue)

    def _put_fanout(
        self, exchange: str, message: Any, routing_key: str | None = None, **kwargs: Any
    ) -> None:
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        for queue in self._lookup(exchange, routing_key):
            _wake(queue)


class Transport(memory.Transport):
    """Blocks in `drain_events` until one of its queues receives a message."""

    Channel = Channel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._arrived = threading.Event()
        self._interrupted = False
        self._listening: frozenset[str] = frozenset()

    def interrupt(self) -> None:
        """End a wait in `drain_events` now, as if it had timed out (a consumer stopping)."""
        self._interrupted = True
        self._arrived.set()

    def drain_events(self, connection: Any, timeout: Any = None, **kwargs: Any) -> None:
        cycle: Any = self.cycle
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._follow_queues()
            self._arrived.clear()  # before looking, so a put after the look still wakes us
            try:
                cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                pass
            remaining = None if deadline is None else deadline - time.monotonic()
            if self._interrupted or (remaining is not None and remaining <= 0):
                self._interrupted = False
                raise TimeoutError()
            if not self._arrived.wait(remaining):
                raise TimeoutError()

    def _follow_queues(self) -> None:
        queues = frozenset(q for channel in self.channels for q in channel._active_queues)
        if queues != self._listening:
            _listen(self._arrived, self._listening, queues)
            self._listening = queues

    def close_connection(self, connection: Any) -> None:
        _listen(self._arrived, self._listening, frozenset())
        self._listening = frozenset()
        super().close_connection(connection)
