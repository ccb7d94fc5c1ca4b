"""Resolve a connector's `connection:` id into credentials, never from YAML.

Outside Airflow the id is read from `AIRFLOW_CONN_<ID>` (Airflow's URI or JSON form), so the
same environment works for the CLI, the API worker and Airflow tasks. Inside an Airflow task
with no such variable, Airflow's own connection store is asked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from hub.adapters.errors import AuthFailed


@dataclass(frozen=True)
class Connection:
    conn_id: str
    conn_type: str = ""
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


def parse_uri(conn_id: str, uri: str) -> Connection:
    """Airflow URI: scheme://login:password@host:port/schema?extra (percent-encoded parts)."""
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra: dict[str, Any] = query
    if "__extra__" in query:
        extra = json.loads(query["__extra__"])
    try:
        port = parts.port
    except ValueError as exc:
        raise AuthFailed(f"连接 {conn_id} 端口无效 (invalid port)") from exc
    return Connection(
        conn_id=conn_id,
        conn_type=parts.scheme.replace("-", "_"),
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        schema=unquote(parts.path.lstrip("/")) or None,
        extra=extra,
    )


def parse_json(conn_id: str, text: str) -> Connection:
    """Airflow's JSON form: conn_type, login, password, host, port, schema, extra."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthFailed(f"连接 {conn_id} 的 JSON 无效 (invalid connection JSON)") from exc
    extra = data.get("extra") or {}
    if isinstance(extra, str):
        extra = json.loads(extra) if extra else {}
    return Connection(
        conn_id=conn_id,
        conn_type=str(data.get("conn_type", "")),
        login=data.get("login"),
        password=data.get("password"),
        host=data.get("host"),
        port=int(data["port"]) if data.get("port") else None,
        schema=data.get("schema"),
        extra=dict(extra),
    )


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _from_airflow(conn_id: str) -> Connection | None:
    # Lazy: Airflow is heavy and absent in slim deployments; only asked inside a task.
    try:
        from airflow.sdk import BaseHook  # Airflow 3
    except ImportError:
        try:
            from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined]
        except ImportError:
            return None
    found = BaseHook.get_connection(conn_id)
    return Connection(
        conn_id=conn_id,
        conn_type=found.conn_type or "",
        login=found.login,
        password=found.password,
        host=found.host,
        port=found.port,
        schema=found.schema,
        extra=dict(found.extra_dejson),
    )


def in_airflow_task() -> bool:
    """Airflow sets AIRFLOW_CTX_* variables in a running task."""
    return "AIRFLOW_CTX_DAG_ID" in os.environ


def resolve_connection(conn_id: str) -> Connection:
    """Credentials for conn_id, or AuthFailed saying which variable to set."""
    value = os.environ.get(env_name(conn_id), "").strip()
    if value:
        return parse_json(conn_id, value) if value.startswith("{") else parse_uri(conn_id, value)
    if in_airflow_task():
        found = _from_airflow(conn_id)
        if found is not None:
            return found
    raise AuthFailed(
        f"找不到连接 {conn_id}：请设置环境变量 {env_name(conn_id)} 或在 Airflow 中添加该连接 "
        f"(connection not found: set {env_name(conn_id)} or add an Airflow connection)"
    )
