"""tongda_housing (SQL) + tongda_task_row / tongda_query / tongda_status_row against the
sandbox Tongda database, located through AIRFLOW_CONN_TONGDA_HOUSING as the config says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration_helpers import MAPPINGS, adapter_for, control, work_order

from hub.adapters.base import Adapter
from hub.adapters.errors import AdapterError
from hub.adapters.sql import SqlAdapter
from hub.config import REPO_ROOT
from hub.connectors.loader import load_connector
from hub.mapping import StatusUpdate
from hub.sandbox import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("tongda"), systems=["tongda"]) as running:
        yield running


@pytest.fixture(scope="module")
def adapter(sandbox: Sandbox) -> Iterator[Adapter]:
    assert sandbox.tongda_database is not None
    config = load_connector(REPO_ROOT / "connectors/tongda_housing.yaml")  # as shipped
    built = adapter_for(config, tongda_db=sandbox.tongda_database)
    assert isinstance(built, SqlAdapter)
    assert built.engine.url.database == str(sandbox.tongda_database)
    yield built
    built.close()


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> None:
    control(sandbox, "tongda", "POST", "/reset")


def status(adapter: Adapter, wo_no: str) -> list[StatusUpdate]:
    response = adapter.call("status", MAPPINGS["tongda_query"].apply(work_order(wo_no)))
    mapping = MAPPINGS["tongda_status_row"]
    found = [mapping.to_canonical(row) for row in mapping.records(response.data)]
    assert all(isinstance(u, StatusUpdate) for u in found)
    return found  # type: ignore[return-value]


def test_insert_task_row_and_read_the_status_back(adapter: Adapter, sandbox: Sandbox) -> None:
    wo = work_order("GD20261127000301")
    response = adapter.call("create", MAPPINGS["tongda_task_row"].apply(wo))
    [row_id] = response.data["inserted"]

    task = control(sandbox, "tongda", "GET", f"/by-wo-no/{wo.wo_no}")
    assert task["id"] == row_id
    assert (task["task_no"], task["title"]) == ("GD20261127000301", "夜间施工噪音扰民")
    assert task["content"] == "经开区某路口工地夜间施工，影响休息。"
    assert (task["urgency"], task["status"], task["status_label"]) == (2, 0, "待办")
    assert task["created_at"] == "2026-01-05 09:30:00"  # China local time

    [first] = status(adapter, wo.wo_no)
    assert (first.external_id, first.status) == ("GD20261127000301", "dispatched")
    assert first.updated_at is not None

    control(sandbox, "tongda", "POST", f"/by-wo-no/{wo.wo_no}/sign", json={"operator": "钱经办"})
    assert status(adapter, wo.wo_no)[0].status == "in_progress"
    control(
        sandbox,
        "tongda",
        "POST",
        f"/by-wo-no/{wo.wo_no}/return",
        json={"operator": "钱经办", "opinion": "不属于本单位职责"},
    )
    [back] = status(adapter, wo.wo_no)
    assert (back.status, back.operator, back.note) == ("returned", "钱经办", "不属于本单位职责")


def test_a_repeated_insert_fails_and_the_lookup_finds_the_one_row(
    adapter: Adapter, sandbox: Sandbox
) -> None:
    wo = work_order("GD20261127000302")
    payload = MAPPINGS["tongda_task_row"].apply(wo)
    adapter.call("create", payload)
    with pytest.raises(AdapterError, match="UNIQUE"):
        adapter.call("create", payload)
    assert len(status(adapter, wo.wo_no)) == 1  # create's idempotency_lookup is `status`
    assert len(control(sandbox, "tongda", "GET", "/tasks")) == 1
    assert status(adapter, "GD20261127999999") == []
