"""weaver_env (SOAP) + weaver_create / weaver_status / weaver_lookup against sandbox Weaver."""

from __future__ import annotations

import time
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
from hub.adapters.errors import HostileXml, TransportFailed
from hub.connectors.models import ConnectorConfig
from hub.mapping import MappingError, StatusUpdate, parse_page
from hub.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "weaver") as running:
        yield running


@pytest.fixture(scope="module")
def config(sandbox: Sandbox) -> ConnectorConfig:
    return rebased("weaver_env", sandbox, "weaver")


@pytest.fixture(scope="module")
def adapter(config: ConnectorConfig) -> Iterator[Adapter]:
    with closing(adapter_for(config)) as built:
        yield built


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> None:
    control(sandbox, "weaver", "POST", "/reset")


def updates(response: Response, mapping_name: str = "weaver_status") -> list[Any]:
    """The reply of an operation through its response_mapping (the adapter leaves such a
    reply raw: the mapping engine parses it)."""
    mapping = MAPPINGS[mapping_name]
    records = mapping.records(parse_page(response.raw, "xml"))
    return [mapping.to_canonical(r) for r in records]


def create(adapter: Adapter, wo: Any) -> str | None:
    """Create the task; the requestId Weaver answered, as the hub reads it."""
    response = adapter.call("create", MAPPINGS["weaver_create"].apply(wo))
    assert response.data is None  # left raw for the response mapping
    [created] = updates(response, "weaver_created")
    return created.external_id


def status(adapter: Adapter, request_id: str, wo_no: str) -> StatusUpdate:
    key = {"external_id": request_id, "wo_no": wo_no}
    [update] = updates(adapter.call("status", MAPPINGS["weaver_status_query"].apply(key)))
    assert isinstance(update, StatusUpdate)
    return update


def lookup(adapter: Adapter, wo_no: str) -> list[Any]:
    wo = work_order(wo_no)
    return updates(adapter.call("status_lookup", MAPPINGS["weaver_lookup"].apply(wo)))


def test_create_status_and_idempotency_lookup(adapter: Adapter, sandbox: Sandbox) -> None:
    wo = work_order("GD20261127000101")
    request_id = create(adapter, wo)
    assert request_id == "10001"  # a positive requestId: created

    task = control(sandbox, "weaver", "GET", f"/by-wo-no/{wo.wo_no}")
    assert task["requestId"] == request_id
    assert task["hub_wo_no"] == "GD20261127000101"
    assert task["requestName"] == "【12345】夜间施工噪音扰民"
    assert task["requestLevel"] == 2  # critical → 紧急
    assert task["creatorId"] == "8"
    assert task["workflowBaseInfo"]["workflowId"] == "1001"
    assert task["fields"]["sqlx"] == "投诉"
    assert task["fields"]["lxdh"] == "13812341234"
    assert task["fields"]["blsx"] == "2026-01-12 17:00:00"  # China local time
    assert task["fields"]["slsj"] == "2026-01-05 09:30:00"

    first = status(adapter, request_id, wo.wo_no)
    assert (first.external_id, first.status, first.node) == (request_id, "dispatched", "部门签收")
    assert first.updated_at is not None

    control(sandbox, "weaver", "POST", f"/tasks/{request_id}/sign", json={"operator": "王收文"})
    signed = status(adapter, request_id, wo.wo_no)
    assert (signed.status, signed.node, signed.operator) == ("in_progress", "承办人办理", "王收文")
    control(
        sandbox,
        "weaver",
        "POST",
        f"/tasks/{request_id}/finish",
        json={"operator": "李承办", "opinion": "已责令施工方夜间停工"},
    )
    done = status(adapter, request_id, wo.wo_no)
    assert (done.status, done.operator, done.note) == ("resolved", "李承办", "已责令施工方夜间停工")

    [found] = lookup(adapter, wo.wo_no)
    assert found.external_id == request_id
    assert lookup(adapter, "GD20261127999999") == []


def test_timeout_after_commit_then_lookup_finds_the_created_request(
    config: ConnectorConfig, sandbox: Sandbox
) -> None:
    quick = config.model_copy(update={"timeouts": config.timeouts.model_copy(update={"read": 0.5})})
    adapter = adapter_for(quick)
    try:
        control(
            sandbox,
            "weaver",
            "POST",
            "/faults",
            json={"timeout_next": 1, "timeout_seconds": 2},
        )
        wo = work_order("GD20261127000102")
        started = time.perf_counter()
        with pytest.raises(TransportFailed):
            adapter.call("create", MAPPINGS["weaver_create"].apply(wo))
        assert time.perf_counter() - started < 1.5  # not retried: a create is not idempotent
        assert control(sandbox, "weaver", "GET", "/faults")["calls"] == 1

        # The dispatcher asks the idempotency lookup before trying again: it is there.
        assert config.operation("create").idempotency_lookup == "status_lookup"
        [found] = lookup(adapter, wo.wo_no)
        assert found.status == "dispatched"
        tasks = control(sandbox, "weaver", "GET", "/tasks")
        assert [t["requestId"] for t in tasks if t["hub_wo_no"] == wo.wo_no] == [found.external_id]
    finally:
        adapter.close()


def test_hostile_xml_is_refused_quickly(adapter: Adapter, sandbox: Sandbox) -> None:
    wo = work_order("GD20261127000103")
    request_id = create(adapter, wo)
    for kind in ("billion_laughs", "xxe"):
        control(sandbox, "weaver", "POST", "/faults", json={"corrupt_next": 1, "corrupt": kind})
        key = {"external_id": request_id, "wo_no": wo.wo_no}
        started = time.perf_counter()
        with pytest.raises(HostileXml) as caught:
            adapter.call("status", MAPPINGS["weaver_status_query"].apply(key))
        assert time.perf_counter() - started < 2.0
        started = time.perf_counter()
        with pytest.raises(MappingError):
            parse_page(caught.value.payload or b"", "xml")
        assert time.perf_counter() - started < 0.1


def test_a_503_soap_fault_on_a_status_query_is_retried(adapter: Adapter, sandbox: Sandbox) -> None:
    wo = work_order("GD20261127000104")
    request_id = create(adapter, wo)
    control(sandbox, "weaver", "POST", "/faults", json={"fail_next": 1, "fail_status": 503})
    assert status(adapter, request_id, wo.wo_no).status == "dispatched"
    assert control(sandbox, "weaver", "GET", "/faults")["calls"] == 2
