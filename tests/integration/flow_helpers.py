"""Helpers for the work-order flow tests: the whole hub against the sandbox systems.

The shipped connector files are copied with their sandbox URLs moved to where this
module's sandbox runs, so the flow reads configs exactly as `make run` does.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from integration_helpers import control, sandbox_env

from hub.api.app import create_app
from hub.bus.runner import BusRunner, start_bus
from hub.config import REPO_ROOT, Settings
from hub.sandbox import Sandbox
from hub.sandbox.wiring import rebase_connectors
from hub.services.runtime import FlowRuntime

POLICIES = REPO_ROOT / "policies"
MAPPINGS_DIR = REPO_ROOT / "mappings"


def rebased_connectors(sandbox: Sandbox, target: Path) -> Path:
    """The shipped connector files pointed at this sandbox."""
    return rebase_connectors(sandbox.urls, target)


#: A village street-lamp request, the repeat-merging tests' running example.
LAMP = {
    "channel": "portal",
    "appeal_type": "help",
    "title": "村东头三盏路灯不亮",
    "content": "前进村东头三盏路灯连续一周不亮，晚上出行不便。",
    "location": {"address": "永安镇前进村东头", "region_code": "130199001001"},
    "requester": {"name": "刘强", "phone": "13912345678"},
}


@dataclass
class Hub:
    """A running hub: the API client, the flow runtime and, when started, the bus."""

    settings: Settings
    client: TestClient
    runtime: FlowRuntime
    sandbox: Sandbox
    bus: BusRunner | None = None

    def submit(self, key: str, **body: Any) -> dict[str, Any]:
        response = self.client.post("/api/v1/work-orders", json=body, headers={"X-API-Key": key})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def complaint(self, key: str, category: str, title: str, content: str, **extra: Any) -> str:
        """A hotline complaint of a given dispatch category; its work-order number."""
        body = {
            "channel": "hotline",
            "appeal_type": "complaint",
            "category_code": category,
            "title": title,
            "content": content,
            "requester": {"name": "王芳", "phone": "13812341234"},
            **extra,
        }
        return str(self.submit(key, **body)["wo_no"])

    def order(self, key: str, wo_no: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/work-orders/{wo_no}", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def act(self, key: str, wo_no: str, action: str, expect: int = 200, **body: Any) -> Any:
        response = self.client.post(
            f"/api/v1/work-orders/{wo_no}/actions/{action}",
            json=body,
            headers={"X-API-Key": key},
        )
        assert response.status_code == expect, response.text
        return response.json()

    def timeline(self, wo_no: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/work-orders/{wo_no}/timeline")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for(
        self,
        key: str,
        wo_no: str,
        done: Callable[[dict[str, Any]], bool],
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """Poll the API until `done(order)`; the bus and the worker move the order."""
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(key, wo_no)
            if done(order):
                return order
            if time.monotonic() > deadline:
                raise AssertionError(f"{wo_no} did not get there: {order['status']} {order}")
            time.sleep(0.05)

    def edit(self, kind: str, name: str, old: str, new: str) -> None:
        """Change this hub's copy of a connector or mapping file before it is first used."""
        folder = self.settings.connectors_dir if kind == "connector" else self.settings.mappings_dir
        path = folder / f"{name}.yaml"
        text = path.read_text("utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new), "utf-8")

    def control(self, system: str, method: str, path: str, **kwargs: Any) -> Any:
        return control(self.sandbox, system, method, path, **kwargs)


@contextmanager
def running_hub(
    sandbox: Sandbox, database_url: str, tmp_path: Path, *, bus: bool = True
) -> Iterator[Hub]:
    mappings = tmp_path / "mappings"
    shutil.copytree(MAPPINGS_DIR, mappings)
    settings = Settings(
        home=tmp_path,
        database_url=database_url,
        policies_dir=POLICIES,
        connectors_dir=rebased_connectors(sandbox, tmp_path / "connectors"),
        mappings_dir=mappings,
    )
    with sandbox_env(sandbox.tongda_database), pytest.MonkeyPatch.context() as patch:
        patch.setenv("HUB_ALLOW_PRIVATE", "1")
        app = create_app(settings)
        with TestClient(app) as client:
            state = app.state.hub
            runtime = state.runtime()
            hub = Hub(settings, client, runtime, sandbox)
            if bus:
                hub.bus = start_bus(runtime.engine, settings, runtime.handlers())
                state.run_flow_here(hub.bus)  # as the embedded worker runs
            try:
                yield hub
            finally:
                state.stop_flow()
