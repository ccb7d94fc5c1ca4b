"""Connector configs: models, loader, secret resolution and the outbound allow-list."""

from hub.connectors.loader import check_hosts, load_connector, load_connectors
from hub.connectors.models import ConnectorConfig

__all__ = ["ConnectorConfig", "check_hosts", "load_connector", "load_connectors"]
