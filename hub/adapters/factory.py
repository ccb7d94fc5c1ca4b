"""Build the adapter a connector config asks for."""

from __future__ import annotations

from pathlib import Path

from hub.adapters.base import Adapter
from hub.adapters.inbox import InboxAdapter, InboxSink, MemoryInbox
from hub.adapters.rest import RestAdapter
from hub.adapters.soap import SoapAdapter
from hub.adapters.sql import SqlAdapter
from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig


def build_adapter(
    config: ConnectorConfig,
    *,
    base_dir: Path | None = None,
    allow: AllowList | None = None,
    inbox: InboxSink | None = None,
) -> Adapter:
    """base_dir: the folder of the connector YAML (vendored WSDL paths are relative to it)."""
    if config.kind == "soap":
        return SoapAdapter(config, allow=allow, base_dir=base_dir)
    if config.kind == "rest":
        return RestAdapter(config, allow=allow)
    if config.kind == "sql":
        return SqlAdapter(config)
    return InboxAdapter(config, inbox or MemoryInbox())
