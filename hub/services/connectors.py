"""Connectors as department IT sees them: load, check, preview and pull — one code path for
the CLI, the worker and the Airflow tasks."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, inspect

from hub.adapters.base import Adapter
from hub.adapters.factory import build_adapter
from hub.adapters.soap import SoapAdapter
from hub.config import Settings
from hub.connectors.allowlist import AllowList
from hub.connectors.loader import check_hosts, load_connector
from hub.connectors.models import ConnectorConfig
from hub.connectors.secrets import resolve_connection
from hub.mapping.engine import Mapping, load_mapping
from hub.reference import load_reference
from hub.services.catalogue import read_catalogue
from hub.services.inbox import StoreInbox
from hub.services.sync import StreamPuller
from hub.yamlconf import ConfigError

PROBE_TIMEOUT = 5.0


@dataclass
class CheckReport:
    name: str
    path: Path
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        self.lines.append(f"✗ {message}")

    def good(self, message: str) -> None:
        self.lines.append(f"✓ {message}")


def connector_files(settings: Settings) -> dict[str, Path]:
    return {p.stem: p for p in sorted(settings.connectors_dir.glob("*.yaml"))}


def known_units(settings: Settings) -> set[str]:
    return {u.code for u in load_reference(settings.policies_dir).units}


def load_one(settings: Settings, name: str) -> tuple[ConnectorConfig, Path]:
    path = connector_files(settings).get(name)
    if path is None:
        raise ConfigError(
            settings.connectors_dir / f"{name}.yaml", None, "", "没有此连接器 (no such connector)"
        )
    return load_connector(path, known_units(settings)), path


def mapping_for(settings: Settings, name: str) -> Mapping:
    path = settings.mappings_dir / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(path, None, "", f"映射文件不存在 (mapping {name!r} not found)")
    return load_mapping(path)


def open_adapter(config: ConnectorConfig, path: Path, engine: Engine) -> Adapter:
    return build_adapter(
        config, base_dir=path.parent, allow=AllowList.from_env(), inbox=StoreInbox(engine)
    )


def stream_puller(settings: Settings, engine: Engine, name: str, stream: str) -> StreamPuller:
    config, path = load_one(settings, name)
    spec = next((s for s in config.streams if s.name == stream), None)
    if spec is None:
        raise ConfigError(path, None, "streams", f"没有数据流 {stream!r} (no such stream)")
    adapter = open_adapter(config, path, engine)
    return StreamPuller(
        engine, config, stream, adapter, mapping_for(settings, spec.mapping), read_catalogue(engine)
    )


def _probe(adapter: Adapter, config: ConnectorConfig, report: CheckReport) -> None:
    """Reach the system the cheapest way its protocol allows."""
    if isinstance(adapter, SoapAdapter):
        report.good(f"WSDL 已加载，操作 (operations): {', '.join(adapter.operations())}")
    elif config.kind == "rest" and config.endpoint and config.endpoint.url:
        parts = urlsplit(config.endpoint.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT):
            report.good(f"端点可达 (endpoint reachable): {parts.hostname}:{port}")
    elif config.kind == "sql" and hasattr(adapter, "engine"):
        tables = inspect(adapter.engine).get_table_names()
        report.good(f"数据库可连接，表 (tables): {', '.join(tables)}")
    elif config.kind == "inbox":
        report.good("枢纽收件箱 (hub inbox): 无需外部系统 (no external system)")


def check(settings: Settings, engine: Engine, name: str, path: Path) -> CheckReport:
    """Config, mappings, secrets, allow-list, and a real call to the endpoint."""
    report = CheckReport(name, path)
    try:
        config = load_connector(path, known_units(settings))
        report.good("配置有效 (config valid)")
        for mapping in sorted(
            {s.mapping for s in config.streams}
            | {m for o in config.operations for m in (o.mapping, o.response_mapping) if m}
            | ({config.callback.mapping} if config.callback else set())
        ):
            mapping_for(settings, mapping)
            report.good(f"映射已编译 (mapping compiled): {mapping}")
        callback = config.callback.connection if config.callback else None
        for connection in [c for c in (config.connection, callback) if c]:
            resolve_connection(connection)
            report.good(f"密钥已解析 (secret resolved): {connection}")
        check_hosts(path, config, AllowList.from_env())
        report.good("出站地址在允许列表内 (hosts allowed)")
        adapter = open_adapter(config, path, engine)
        try:
            _probe(adapter, config, report)
        finally:
            adapter.close()
    except Exception as exc:  # the report lists every kind of failure for the operator
        report.fail(str(exc) or type(exc).__name__)
    return report
