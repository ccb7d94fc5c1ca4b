"""seeyon_urban (REST, token login) + seeyon_start / seeyon_query / seeyon_state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from integration_helpers import (
    MAPPINGS,
    adapter_for,
    control,
    rebased,
    sandbox_for,
    work_order,
)

from hub.adapters.base import Adapter, Response
from hub.connectors.models import ConnectorConfig
from hub.mapping import StatusUpdate, parse_page
from hub.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "seeyon") as running:
        yield running


@pytest.fixture(scope="module")
def config(sandbox: Sandbox) -> ConnectorConfig:
    return rebased("seeyon_urban", sandbox, "seeyon")


@pytest.fixture(scope="module")
def adapter(config: ConnectorConfig) -> Iterator[Adapter]:
    with closing(adapter_for(config)) as built:
        yield built


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> None:
    control(sandbox, "seeyon", "POST", "/reset")


def updates(response: Response) -> list[Any]:
    mapping = MAPPINGS["seeyon_state"]
    records = mapping.records(parse_page(response.raw, "json"))
    return [mapping.to_canonical(r) for r in records]


def status(adapter: Adapter, flow_id: str, wo_no: str) -> StatusUpdate:
    key = {"external_id": flow_id, "wo_no": wo_no}
    [update] = updates(adapter.call("status", MAPPINGS["seeyon_query"].apply(key)))
    assert isinstance(update, StatusUpdate)
    return update


def lookup(adapter: Adapter, wo_no: str) -> list[Any]:
    return updates(adapter.call("status_lookup", MAPPINGS["seeyon_query"].apply({"wo_no": wo_no})))


def create(adapter: Adapter, wo_no: str) -> str:
    response = adapter.call("create", MAPPINGS["seeyon_start"].apply(work_order(wo_no)))
    assert response.data["code"] == 0, response.data
    return str(response.data["data"]["flowId"])


def test_login_start_process_and_flow_state(adapter: Adapter, sandbox: Sandbox) -> None:
    flow_id = create(adapter, "GD20261127000201")
    task = control(sandbox, "seeyon", "GET", "/by-wo-no/GD20261127000201")
    assert task["flowId"] == flow_id and task["sender"] == "hub"
    assert task["templateCode"] == "JKQ_CGJ_SQ"
    assert task["subject"] == "【12345】夜间施工噪音扰民"
    assert task["hub_wo_no"] == "GD20261127000201"
    assert task["data"]["urgency"] == "特急"
    assert task["data"]["phone"] == "13812341234"
    assert task["data"]["deadline"] == "2026-01-12 17:00:00"

    first = status(adapter, flow_id, "GD20261127000201")
    assert (first.external_id, first.status, first.node) == (flow_id, "dispatched", "收文登记")
    control(
        sandbox,
        "seeyon",
        "POST",
        f"/tasks/{flow_id}/return",
        json={"operator": "城管局张科长", "opinion": "不属于本局职责，请改派"},
    )
    returned = status(adapter, flow_id, "GD20261127000201")
    assert (returned.status, returned.operator, returned.note) == (
        "returned",
        "城管局张科长",
        "不属于本局职责，请改派",
    )
    assert returned.updated_at is not None

    [found] = lookup(adapter, "GD20261127000201")
    assert found.external_id == flow_id
    assert lookup(adapter, "GD20261127999999") == []


def test_expired_token_logs_in_again(adapter: Adapter, sandbox: Sandbox) -> None:
    flow_id = create(adapter, "GD20261127000202")
    assert control(sandbox, "seeyon", "POST", "/tokens/expire")["expired"] >= 1
    assert status(adapter, flow_id, "GD20261127000202").status == "dispatched"


def test_a_503_is_retried_without_a_second_flow(adapter: Adapter, sandbox: Sandbox) -> None:
    assert lookup(adapter, "GD20261127000203") == []  # logged in: faults count API calls only
    control(sandbox, "seeyon", "POST", "/faults", json={"fail_next": 1, "fail_status": 503})
    flow_id = create(adapter, "GD20261127000203")  # 503 = not processed: safe to retry
    assert control(sandbox, "seeyon", "GET", "/faults")["calls"] == 2
    assert [t["flowId"] for t in control(sandbox, "seeyon", "GET", "/tasks")] == [flow_id]
    control(sandbox, "seeyon", "POST", "/faults", json={"fail_next": 1, "fail_status": 503})
    assert status(adapter, flow_id, "GD20261127000203").status == "dispatched"
    control(sandbox, "seeyon", "DELETE", "/faults")


def test_shipped_token_login_works_as_configured(config: ConnectorConfig) -> None:
    adapter = adapter_for(config)
    try:
        response = adapter.call("create", MAPPINGS["seeyon_start"].apply(work_order("GD1")))
        assert response.data["code"] == 0
    finally:
        adapter.close()
