"""Load `connectors/*.yaml`: parse, refuse secrets, validate, cross-check per kind.

Every problem is a hub.yamlconf.ConfigError naming the file, the line and the field, so
department IT can fix the file without reading Python.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub.adapters.errors import BlockedHost
from hub.connectors.allowlist import AllowList
from hub.connectors.models import ConnectorConfig
from hub.yamlconf import ConfigError, field_path, line_of, read_yaml, validate

SECRET_KEYS = re.compile(
    r"^(password|passwd|pwd|secret|token|access_token|api_key|apikey|private_key|credentials?)$"
    r"|_(password|secret|token|key)$",
    re.IGNORECASE,
)

# Which config fields each kind needs on its streams and operations.
STREAM_SOURCE: dict[str, tuple[str, ...]] = {
    "soap": ("operation",),
    "rest": ("path",),
    "sql": ("table", "query"),
    "inbox": (),
}
OP_TARGET: dict[str, tuple[str, ...]] = {
    "soap": ("operation",),
    "rest": ("path",),
    "sql": ("table",),
    "inbox": (),
}

Loc = tuple[str | int, ...]


def _walk(node: yaml.Node, loc: Loc) -> Iterator[tuple[Loc, yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield (*loc, key.value), key, value
            yield from _walk(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, (*loc, i))


def refuse_secrets(path: Path, root: yaml.Node | None) -> None:
    """A key that names a secret must not carry a value in YAML: use `connection:`."""
    if root is None:
        return
    for loc, key, value in _walk(root, ()):
        if not isinstance(value, yaml.ScalarNode) or value.value in ("", "~", "null"):
            continue
        if SECRET_KEYS.search(str(key.value)):
            raise ConfigError(
                path,
                key.start_mark.line + 1,
                field_path(loc),
                "配置文件中不得写入密码、令牌等机密；请用 connection: 引用 Airflow 连接 "
                "(no secrets in YAML: reference an Airflow connection with connection:)",
            )
        if value.tag.endswith(":str") and _url_has_password(value.value):
            raise ConfigError(
                path,
                value.start_mark.line + 1,
                field_path(loc),
                "URL 中不得包含密码 (no password inside a URL); 请用 connection: 引用",
            )


def _url_has_password(text: str) -> bool:
    if "://" not in text:
        return False
    try:
        return bool(urlsplit(text).password)
    except ValueError:
        return False


class _Checker:
    """Cross-field checks that need the whole config; each failure points at its field."""

    def __init__(self, path: Path, root: yaml.Node | None, cfg: ConnectorConfig) -> None:
        self.path, self.root, self.cfg = path, root, cfg

    def fail(self, loc: Sequence[str | int], message: str) -> None:
        raise ConfigError(self.path, line_of(self.root, loc), field_path(loc), message)

    def run(self, known_units: Collection[str] | None) -> None:
        cfg = self.cfg
        if cfg.name != self.path.stem:
            self.fail(["name"], f"name 须与文件名一致 (name must equal file name {self.path.stem})")
        if known_units is not None and cfg.unit not in known_units:
            self.fail(["unit"], f"未知单位代码 (unknown org unit) {cfg.unit}")
        self._endpoint()
        self._auth()
        self._items("streams", [s.name for s in cfg.streams], STREAM_SOURCE[cfg.kind])
        self._items("operations", [o.name for o in cfg.operations], OP_TARGET[cfg.kind])
        names = {o.name for o in cfg.operations}
        for i, op in enumerate(cfg.operations):
            if op.idempotency_lookup and op.idempotency_lookup not in names:
                self.fail(
                    ["operations", i, "idempotency_lookup"],
                    f"引用了不存在的操作 (no such operation) {op.idempotency_lookup}",
                )
            if cfg.kind != "inbox" and not op.mapping:
                self.fail(["operations", i, "name"], "操作须指定 mapping (operation needs mapping)")
            if cfg.kind == "sql" and op.write is None and op.kind in ("create", "reply"):
                self.fail(["operations", i, "write"], "SQL 写操作须指定 write (needs write)")

    def _endpoint(self) -> None:
        cfg, ep = self.cfg, self.cfg.endpoint
        needed = {"soap": "wsdl", "rest": "url", "sql": "url"}.get(cfg.kind)
        if needed and not getattr(ep, needed):
            self.fail(["endpoint", needed], f"{cfg.kind} 连接器须填写 (required for) {needed}")
        if cfg.kind == "sql" and ep.url:
            try:
                url = make_url(ep.url)
            except ArgumentError as exc:
                self.fail(["endpoint", "url"], f"SQLAlchemy URL 无效 (invalid URL): {exc}")
                return
            if url.password:
                self.fail(["endpoint", "url"], "URL 中不得包含密码 (no password in the URL)")
        remote = "://" in (ep.wsdl or "")
        if cfg.kind == "soap" and ep.wsdl and not remote and not self.vendored_wsdl().is_file():
            self.fail(["endpoint", "wsdl"], f"WSDL 文件不存在 (file not found): {ep.wsdl}")

    def vendored_wsdl(self) -> Path:
        return (self.path.parent / (self.cfg.endpoint.wsdl or "")).resolve()

    def _auth(self) -> None:
        cfg = self.cfg
        if cfg.auth.kind == "ws_security" and cfg.kind != "soap":
            self.fail(["auth", "kind"], "ws_security 仅用于 SOAP (ws_security is SOAP only)")
        if cfg.auth.kind != "none" and not cfg.connection:
            self.fail(
                ["auth", "kind"], "该认证方式须填写 connection (this auth kind needs connection:)"
            )

    def _items(self, key: str, names: list[str], allowed: tuple[str, ...]) -> None:
        seen: set[str] = set()
        for i, (name, item) in enumerate(zip(names, getattr(self.cfg, key), strict=True)):
            if name in seen:
                self.fail([key, i, "name"], f"名称重复 (duplicate name) {name}")
            seen.add(name)
            used = [f for f in ("operation", "path", "table", "query") if getattr(item, f, None)]
            if allowed and not used:
                self.fail([key, i, "name"], f"须指定 (needs one of) {' / '.join(allowed)}")
            if used and used[0] not in allowed:
                self.fail(
                    [key, i, used[0]],
                    f"{self.cfg.kind} 连接器不支持 {used[0]} (not valid for this kind; "
                    f"use {' / '.join(allowed) or 'nothing'})",
                )


def load_connector(path: Path, known_units: Collection[str] | None = None) -> ConnectorConfig:
    """One connector file → validated config, or ConfigError with file, line and field."""
    path = Path(path)
    data, root = read_yaml(path)
    refuse_secrets(path, root)
    config = validate(path, data, root, ConnectorConfig)
    _Checker(path, root, config).run(known_units)
    return config


def load_connectors(
    folder: Path, known_units: Collection[str] | None = None
) -> dict[str, ConnectorConfig]:
    """Every `*.yaml` in folder, by name; the first broken file raises."""
    return {
        cfg.name: cfg
        for cfg in (load_connector(p, known_units) for p in sorted(Path(folder).glob("*.yaml")))
    }


def config_urls(config: ConnectorConfig) -> list[tuple[list[str | int], str]]:
    """The outbound URLs in a config, each with its field location."""
    found: list[tuple[list[str | int], str]] = []
    for key in ("url", "wsdl"):
        value = getattr(config.endpoint, key)
        if value and value.split(":", 1)[0] in ("http", "https"):
            found.append((["endpoint", key], value))
    token = config.auth.token_endpoint
    if token:
        found.append((["auth", "token_endpoint", "url"], token.url))
    return found


def check_hosts(path: Path, config: ConnectorConfig, allow: AllowList | None = None) -> None:
    """Config-check-time SSRF guard; adapters check again before every request."""
    allow = allow or AllowList.from_env()
    _, root = read_yaml(path)
    for loc, url in config_urls(config):
        try:
            allow.check_url(url)
        except BlockedHost as exc:
            raise ConfigError(path, line_of(root, loc), field_path(loc), str(exc)) from exc
    if config.kind == "sql" and config.endpoint.url:
        host = make_url(config.endpoint.url).host
        if host:
            try:
                allow.check_host(host)
            except BlockedHost as exc:
                loc = ["endpoint", "url"]
                raise ConfigError(path, line_of(root, loc), field_path(loc), str(exc)) from exc
