"""`jingkai connectors list|check|preview|pull` against the real sandbox systems.

The shipped configs are copied with the sandbox's actual (free) ports written in; secrets
come from AIRFLOW_CONN_* variables as in production.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from sqlalchemy import func, select

from hub.config import REPO_ROOT
from hub.sandbox import Sandbox, running_sandbox
from hub.store.db import engine_for
from hub.store.schema import dead_letters, service_matters, work_orders

JINGKAI = Path(sys.executable).parent / "jingkai"
DEFAULT_PORTS = {"weaver": 8101, "seeyon": 8102, "tongda": 8103, "hebei": 8104, "hotline": 8105}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    data = tmp_path_factory.mktemp("sandbox")
    with running_sandbox(data, ports=dict.fromkeys(DEFAULT_PORTS, 0), seed_matters=250) as sb:
        yield sb


@pytest.fixture
def hub_env(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "connectors"
    shutil.copytree(REPO_ROOT / "connectors", folder)
    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for name, port in DEFAULT_PORTS.items():
            actual = sandbox.urls[name].rsplit(":", 1)[1]
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{actual}")
        text = text.replace("var/sandbox/tongda.db", str(sandbox.tongda_database))
        path.write_text(text, encoding="utf-8")
    hotline_port = sandbox.urls["hotline"].rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "AIRFLOW_CONN_"))}
    env.update(
        HUB_HOME=str(tmp_path / "home"),
        HUB_CONNECTORS_DIR=str(folder),
        HUB_ALLOWED_HOSTS="127.0.0.1",
        AIRFLOW_CONN_HOTLINE_CENTRE=f"http://:hotline-sandbox-key@127.0.0.1:{hotline_port}",
        AIRFLOW_CONN_HEBEI_NETWORK="soap://exchange:sandbox@127.0.0.1",
        PYTHONIOENCODING="utf-8",
    )
    run(env, "init")
    return env


def run(env: dict[str, str], *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(JINGKAI), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == expect, result.stdout + result.stderr
    return result


def count(env: dict[str, str], table) -> int:  # type: ignore[no-untyped-def]
    engine = engine_for(f"sqlite:///{env['HUB_HOME']}/hub.db")
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_list_shows_every_shipped_connector(hub_env: dict[str, str]) -> None:
    out = run(hub_env, "connectors", "list").stdout
    for name in (
        "weaver_env",
        "seeyon_urban",
        "tongda_housing",
        "hebei_network",
        "hotline_centre",
        "inbox_town",
    ):
        assert re.search(rf"^{name}\s", out, re.M), out


def test_check_reaches_the_systems(hub_env: dict[str, str]) -> None:
    out = run(hub_env, "connectors", "check", "hebei_network").stdout
    assert "通过 OK" in out and "queryTasks" in out
    out = run(hub_env, "connectors", "check", "hotline_centre").stdout
    assert "通过 OK" in out and "端点可达" in out


def test_check_fails_without_the_secret(hub_env: dict[str, str]) -> None:
    env = {k: v for k, v in hub_env.items() if k != "AIRFLOW_CONN_HOTLINE_CENTRE"}
    out = run(env, "connectors", "check", "hotline_centre", expect=1).stdout
    assert "失败 FAILED" in out and "AIRFLOW_CONN_HOTLINE_CENTRE" in out


def test_preview_writes_nothing_and_masks(sandbox: Sandbox, hub_env: dict[str, str]) -> None:
    add = requests.post(
        sandbox.urls["hotline"] + "/_sandbox/orders", json={"generate": 3, "seed": 7}, timeout=10
    )
    assert add.status_code == 200
    result = run(
        hub_env, "connectors", "preview", "hotline_centre", "--stream", "orders", "--limit", "2"
    )
    assert '"channel": "hotline"' in result.stdout
    assert not re.search(r"1[3-9]\d{9}", result.stdout)  # phones masked by default
    assert "未写入任何数据" in result.stderr
    assert count(hub_env, work_orders) == 0


def test_pull_stores_once_and_resumes_from_the_cursor(
    sandbox: Sandbox, hub_env: dict[str, str]
) -> None:
    requests.post(sandbox.urls["hotline"] + "/_sandbox/reset", timeout=10)
    requests.post(
        sandbox.urls["hotline"] + "/_sandbox/orders", json={"generate": 4, "seed": 3}, timeout=10
    )
    first = run(hub_env, "connectors", "pull", "hotline_centre", "--stream", "orders").stdout
    assert "新增 inserted=4" in first, first
    again = run(hub_env, "connectors", "pull", "hotline_centre", "--stream", "orders").stdout
    assert "新增 inserted=0" in again, again
    assert count(hub_env, work_orders) == 4
    assert count(hub_env, dead_letters) == 0


def test_pull_matters_then_unchanged_rerun(hub_env: dict[str, str]) -> None:
    first = run(hub_env, "connectors", "pull", "hebei_network", "--stream", "matters").stdout
    assert "新增 inserted=250" in first, first
    assert count(hub_env, service_matters) == 250
    again = run(hub_env, "connectors", "pull", "hebei_network", "--stream", "matters").stdout
    assert "新增 inserted=0" in again and "变更 changed=0" in again, again


def test_dead_letter_replays_after_the_registry_is_fixed(
    sandbox: Sandbox, hub_env: dict[str, str], tmp_path: Path
) -> None:
    """A hotline the registry does not know yet: kept as a dead letter, replayed once added."""
    hotline = sandbox.urls["hotline"]
    requests.post(hotline + "/_sandbox/reset", timeout=10)
    order = {
        "orderNo": "RX-DLQ-1",
        "hotline": "12399",
        "type": "求助",
        "content": "新热线来电",
        "caller": {"name": "张三", "mobile": "13812341234"},
    }
    requests.post(hotline + "/_sandbox/orders", json={"orders": [order]}, timeout=10)
    pulled = run(hub_env, "connectors", "pull", "hotline_centre", "--stream", "orders").stdout
    assert "新增 inserted=0" in pulled and "死信 dead_letters=1" in pulled, pulled
    listed = run(hub_env, "dlq", "list", "--show-payload").stdout
    assert "hotline_centre/orders 待处理 pending" in listed and "12399" in listed, listed
    assert "13812341234" not in listed  # payloads are shown masked
    assert count(hub_env, work_orders) == 0

    policies = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", policies)
    registry = yaml.safe_load((policies / "hotlines.yaml").read_text(encoding="utf-8"))
    registry["merged"].append(
        {
            "number": "12399",
            "name": "试点热线",
            "default_category": "OTHER",
            "default_unit": "JKQ-XYZX",
        }
    )
    (policies / "hotlines.yaml").write_text(
        yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8"
    )
    fixed = {**hub_env, "HUB_POLICIES_DIR": str(policies)}
    run(fixed, "init")
    replayed = run(fixed, "dlq", "replay").stdout
    assert "✓ 新增 inserted" in replayed, replayed
    assert count(hub_env, work_orders) == 1
    assert run(fixed, "dlq", "list").stdout.strip() == ""
