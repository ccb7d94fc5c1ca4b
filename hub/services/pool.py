"""One process's open connectors: configs, adapters and mappings, loaded once and reused.

Adapters hold sessions, tokens, rate limits and circuit breakers, so the dispatcher, the
feedback poller and the reply sender must share one per connector, not build one per call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hub import heap
from hub.adapters.base import Adapter, Response
from hub.config import Settings
from hub.connectors.models import ConnectorConfig, Operation
from hub.mapping import Mapping, load_mappings, parse_page
from hub.services.connectors import connector_files, load_one, open_adapter

log = logging.getLogger(__name__)


class ConnectorPool:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self._lock = threading.Lock()
        self._configs: dict[str, tuple[ConnectorConfig, Path]] = {}
        self._adapters: dict[str, Adapter] = {}
        self._mappings: dict[str, Mapping] | None = None

    def names(self) -> list[str]:
        return sorted(connector_files(self.settings))

    def config(self, name: str) -> ConnectorConfig:
        with self._lock:
            if name not in self._configs:
                self._configs[name] = load_one(self.settings, name)
            return self._configs[name][0]

    def preload(self) -> None:
        """Load every connector's config and the mappings now, before the first order.

        Loading one takes some 50 ms (its file and the reference data); on first use that
        fell inside the first write round that leased an assignment to it, holding the
        writer lock meanwhile. A file that does not load is reported here and again on use.
        """
        for name in self.names():
            try:
                self.config(name)
            except Exception as exc:  # the bus still starts; the connector's orders fail
                log.warning("connector %s not loaded: %s", name, exc)
        try:
            self._all_mappings()
        except Exception as exc:  # as above: reported again when a mapping is wanted
            log.warning("mappings not loaded: %s", exc)

    def adapter(self, name: str) -> Adapter:
        config = self.config(name)
        with self._lock:
            if name not in self._adapters:
                self._adapters[name] = open_adapter(config, self._configs[name][1], self.engine)
                heap.settle_young()  # its WSDL model and sessions stay as long as the pool
            return self._adapters[name]

    def mapping(self, name: str) -> Mapping:
        return self._all_mappings()[name]

    def _all_mappings(self) -> dict[str, Mapping]:
        with self._lock:
            if self._mappings is None:
                self._mappings = load_mappings(self.settings.mappings_dir)
            return self._mappings

    def operation(self, connector: str, kind: str) -> Operation | None:
        """The connector's operation named `kind` (create, status, reply, notice …), if any."""
        return next((op for op in self.config(connector).operations if op.name == kind), None)

    def call(self, connector: str, op: Operation, source: Any) -> Response:
        """Map the canonical `source` through the operation's mapping and call it."""
        payload = self.mapping(op.mapping).apply(source) if op.mapping else dict(source)
        return self.adapter(connector).call(op.name, payload)

    def answer(self, op: Operation, response: Response) -> list[Any]:
        """The reply as canonical records through the operation's response mapping."""
        if op.response_mapping is None:
            return []
        mapping = self.mapping(op.response_mapping)
        if response.raw:
            page: Any = parse_page(response.raw, "xml" if mapping.source == "xml" else "json")
        else:
            page = response.data
        return [mapping.to_canonical(record) for record in mapping.records(page)]

    def close(self) -> None:
        with self._lock:
            for adapter in self._adapters.values():
                adapter.close()
            self._adapters.clear()
