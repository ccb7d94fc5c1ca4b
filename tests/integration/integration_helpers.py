"""Helpers for the integration tests: shipped configs and mappings against the real sandbox.

Not a conftest.py (see tests/sandbox/sandbox_fixtures.py for why): each test module starts
its own sandbox on free ports and points the shipped config at it with `rebased`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from hub.adapters.base import Adapter, Page
from hub.adapters.factory import build_adapter
from hub.config import REPO_ROOT
from hub.connectors.loader import load_connector
from hub.connectors.models import ConnectorConfig
from hub.mapping import Failure, Mapping, MappingError, load_mappings
from hub.model.work_order import WorkOrder
from hub.sandbox import Sandbox, running_sandbox
from hub.sandbox.runner import DEFAULT_PORTS
from hub.sandbox.wiring import SANDBOX_SECRETS, sandbox_secrets
from hub.services.sync import map_page

CONNECTORS = REPO_ROOT / "connectors"
MAPPINGS = load_mappings(REPO_ROOT / "mappings")

#: The environment each shipped config documents in its comments, for the sandbox.
SANDBOX_ENV = {"HUB_ALLOWED_HOSTS": "127.0.0.1", **SANDBOX_SECRETS}


@contextmanager
def sandbox_env(tongda_db: Path | None = None) -> Iterator[None]:
    """The documented AIRFLOW_CONN_* variables and allow-list, for a module's lifetime."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("HUB_ALLOW_PRIVATE", raising=False)
        for name, value in {**SANDBOX_ENV, **sandbox_secrets(tongda_db)}.items():
            patch.setenv(name, value)
        yield


def rebased(name: str, sandbox: Sandbox, system: str) -> ConnectorConfig:
    """The shipped config with its default-port URLs moved to where the sandbox runs."""
    config = load_connector(CONNECTORS / f"{name}.yaml")
    default = f"http://127.0.0.1:{DEFAULT_PORTS[system]}"
    actual = sandbox.urls[system]

    def move(url: str) -> str:
        assert url.startswith(default + "/") or url == default, (name, url)
        return actual + url[len(default) :]

    endpoint = config.endpoint.model_copy(
        update={
            key: move(value)
            for key in ("url", "wsdl")
            if (value := getattr(config.endpoint, key)) is not None
        }
    )
    update: dict[str, Any] = {"endpoint": endpoint}
    token = config.auth.token_endpoint
    if token is not None:
        moved = token.model_copy(update={"url": move(token.url)})
        update["auth"] = config.auth.model_copy(update={"token_endpoint": moved})
    return config.model_copy(update=update)


def adapter_for(config: ConnectorConfig, tongda_db: Path | None = None) -> Adapter:
    """The adapter as the hub builds it, with the documented secrets in the environment."""
    with sandbox_env(tongda_db):
        return build_adapter(config, base_dir=CONNECTORS)


@contextmanager
def sandbox_for(
    factory: pytest.TempPathFactory, *systems: str, seed_matters: int = 0
) -> Iterator[Sandbox]:
    """A module's sandbox: only the systems it talks to, with the sandbox secrets set."""
    with (
        sandbox_env(),
        running_sandbox(
            factory.mktemp("-".join(systems)), systems=list(systems), seed_matters=seed_matters
        ) as running,
    ):
        yield running


def control(sandbox: Sandbox, system: str, method: str, path: str, **kwargs: Any) -> Any:
    """Call a system's control API (never subject to faults) and insist it worked."""
    response = requests.request(
        method, f"{sandbox.urls[system]}/_sandbox{path}", timeout=10, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()


def mapped(mapping: Mapping, page: Page) -> tuple[list[Any], list[BaseModel], list[Failure]]:
    """Raw records of a page, and what the shipped mapping made of them (as a pull does)."""
    result = map_page(mapping, page)
    if result.page_error:
        raise MappingError("", result.page_error)
    return result.records, result.models, result.failures


def cursor_of(config: ConnectorConfig, stream: str, records: list[Any]) -> str:
    """The cursor a sync would save: the largest cursor.field value, read as the mapping
    reads its records (so the config's cursor.field must be a path of that mapping)."""
    spec = config.stream(stream)
    assert spec.cursor is not None
    read = MAPPINGS[spec.mapping].reader(spec.cursor.field)
    values = [read(r) for r in records]
    assert values and all(values), f"cursor field {spec.cursor.field} not found in records"
    return max(str(v) for v in values)


def work_order(wo_no: str, **overrides: Any) -> WorkOrder:
    """A dispatched work order as the hub holds it (canonical side of outbound mappings)."""
    data: dict[str, Any] = {
        "wo_no": wo_no,
        "status": "dispatched",
        "origin": {"channel": "hotline", "source_system": "hotline_centre", "external_id": "RX1"},
        "appeal_type": "complaint",
        "title": "夜间施工噪音扰民",
        "content": "经开区某路口工地夜间施工，影响休息。",
        "urgency": "critical",
        "location": {"address": "经开区某路与某街交叉口"},
        "requester": {"name": "张三", "phone": "13812341234"},
        "sla": {"resolve_due": datetime(2026, 1, 12, 9, 0, tzinfo=UTC)},
        "created_at": datetime(2026, 1, 5, 1, 30, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 5, 1, 30, tzinfo=UTC),
    }
    data.update(overrides)
    return WorkOrder.model_validate(data)
