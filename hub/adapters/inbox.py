"""Inbox adapter: units with no system of their own get dispatches in the hub's inbox.

The inbox table belongs to the store; this adapter only needs something that can deliver and
look up items, so the store (or a test) plugs in any `InboxSink`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from hub.adapters.base import Adapter, Page, Payload, Response
from hub.adapters.errors import AdapterError
from hub.adapters.resilience import Resilience
from hub.connectors.models import ConnectorConfig


class InboxSink(Protocol):
    def deliver(self, unit: str, kind: str, payload: Mapping[str, Any]) -> str:
        """Store an item for the unit; return its id. Must be idempotent on payload's key."""

    def lookup(self, unit: str, item_id: str) -> Mapping[str, Any] | None:
        """The item and its state (signed, fed back, returned…), or None."""


class MemoryInbox:
    """Process-local sink for tests and the demo; idempotent on `idempotency_key`."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def deliver(self, unit: str, kind: str, payload: Mapping[str, Any]) -> str:
        with self._lock:
            key = str(payload.get("idempotency_key") or "")
            if key and key in self._keys:
                return self._keys[key]
            item_id = str(next(self._ids))
            self.items[item_id] = {"unit": unit, "kind": kind, "state": "new", **payload}
            if key:
                self._keys[key] = item_id
            return item_id

    def lookup(self, unit: str, item_id: str) -> Mapping[str, Any] | None:
        item = self.items.get(item_id)
        return item if item is not None and item["unit"] == unit else None


class InboxAdapter(Adapter):
    def __init__(
        self, config: ConnectorConfig, sink: InboxSink, resilience: Resilience | None = None
    ) -> None:
        super().__init__(config, resilience)
        self.sink = sink

    def call(self, operation: str, payload: Payload) -> Response:
        if not isinstance(payload, Mapping):
            raise AdapterError("收件箱需要字段映射 (inbox takes mapped fields)")
        kind = operation.split("_", 1)[0]
        if kind == "status":
            found = self.sink.lookup(self.config.unit, str(payload.get("id", "")))
            return Response(operation, data=dict(found) if found is not None else None)
        item_id = self.sink.deliver(self.config.unit, kind, payload)
        return Response(operation, data={"id": item_id})

    def fetch_page(self, stream: str, cursor: str | None, page_token: str | None) -> Page:
        raise AdapterError("收件箱没有可拉取的数据流 (an inbox has no streams to pull)")
