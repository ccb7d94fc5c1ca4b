"""hebei_network (SOAP) + hebei_matter / hebei_case against the sandbox Hebei network."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from typing import Any

import pytest
from integration_helpers import (
    MAPPINGS,
    adapter_for,
    control,
    cursor_of,
    mapped,
    rebased,
    sandbox_for,
)

from hub.adapters.base import Adapter
from hub.adapters.errors import HostileXml
from hub.connectors.models import ConnectorConfig
from hub.mapping import MappingError, parse_page
from hub.model.base import LOCAL_ZONE
from hub.model.service_matter import Case, ServiceMatter
from hub.sandbox import Sandbox
from hub.sandbox.hebei_seed import FOOD_LICENCE_TASK_CODE

SEEDED = 250
TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "hebei", seed_matters=SEEDED) as running:
        yield running


@pytest.fixture(scope="module")
def config(sandbox: Sandbox) -> ConnectorConfig:
    return rebased("hebei_network", sandbox, "hebei")


@pytest.fixture(scope="module")
def adapter(config: ConnectorConfig) -> Iterator[Adapter]:
    with closing(adapter_for(config)) as built:
        yield built


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> Iterator[None]:
    """Every test starts from the 250 seeded matters, no cases and no faults."""
    control(sandbox, "hebei", "POST", "/reset")
    control(sandbox, "hebei", "POST", "/seed", json={"matters": SEEDED})
    yield
    control(sandbox, "hebei", "DELETE", "/faults")


def matter_codes(models: list[Any]) -> list[str]:
    return [m.implementation_code for m in models]


def test_first_page_of_matters_is_canonical_with_the_food_licence(adapter: Adapter) -> None:
    page = adapter.fetch_page("matters", None, None)
    assert page.request == {"pageNo": 1, "pageSize": 100}
    records, matters, failures = mapped(MAPPINGS["hebei_matter"], page)
    assert failures == []
    assert len(records) == len(matters) == 100
    assert all(isinstance(m, ServiceMatter) for m in matters)
    food = matters[0]
    assert isinstance(food, ServiceMatter)
    assert food.implementation_code == FOOD_LICENCE_TASK_CODE
    assert (food.name, food.matter_type, food.use_level) == ("食品经营许可", "01", "4")
    assert food.promised_limit is not None and food.promised_limit.value == 10
    assert food.legal_limit is not None and food.legal_limit.value == 20
    assert food.visits_required == 1 and food.at_most_one_visit
    assert (food.unit_code, food.unit_name) == ("JKQ-SJJ", "经开区市场监督管理局")
    assert food.online and food.online_url and food.status == "active"
    assert food.changed_at is not None and food.changed_at.utcoffset() == timedelta(hours=8)
    assert {m.unit_code for m in matters} <= {  # type: ignore[attr-defined]
        "JKQ-SJJ", "JKQ-SPJ", "JKQ-RSJ", "JKQ-JYJ", "JKQ-ZJJ",
        "JKQ-WJJ", "JKQ-MZJ", "JKQ-HBJ", "JKQ-CZJ", "JKQ-MZZJ",
    }  # fmt: skip


def test_paging_then_incremental_cursor_returns_only_the_changed_matter(
    adapter: Adapter, config: ConnectorConfig, sandbox: Sandbox
) -> None:
    mapping = MAPPINGS["hebei_matter"]
    seen: list[str] = []
    records: list[Any] = []
    token: str | None = None
    sizes = []
    for _ in range(5):
        page = adapter.fetch_page("matters", None, token)
        page_records, models, failures = mapped(mapping, page)
        assert failures == []
        sizes.append(len(models))
        seen += matter_codes(models)
        records += page_records
        token = page.next_token
        if token is None or len(page_records) < (page.size or 0):
            break  # SOAP paging: a short page is the last one
    assert sizes == [100, 100, 50]
    assert len(set(seen)) == SEEDED
    cursor = cursor_of(config, "matters", records)

    target = seen[42]
    time.sleep(1.05)  # the change must get a later cd_time (seconds resolution)
    changed = control(sandbox, "hebei", "PATCH", f"/matters/{target}", json={"promise_day": 5})
    assert changed["task_version"] == 2

    page = adapter.fetch_page("matters", cursor, None)
    since = page.request["since"]
    lookback = config.stream("matters").cursor.lookback  # type: ignore[union-attr]
    assert lookback == "10m"
    assert since == (datetime.strptime(cursor, TIME) - timedelta(minutes=10)).strftime(TIME)
    again, models, failures = mapped(mapping, page)
    assert failures == []
    newer = [m for m in models if m.changed_at.strftime(TIME) > cursor]  # type: ignore[attr-defined]
    assert matter_codes(newer) == [target]
    [fresh] = newer
    assert isinstance(fresh, ServiceMatter)
    assert fresh.version == "2" and fresh.promised_limit.value == 5  # type: ignore[union-attr]
    # everything else is the lookback window re-read (the store deduplicates it)
    for model in models:
        assert model.changed_at.strftime(TIME) > since  # type: ignore[attr-defined]
    assert cursor_of(config, "matters", again) > cursor


def test_cases_stream_maps_accepted_and_finished_cases(
    adapter: Adapter, config: ConnectorConfig, sandbox: Sandbox
) -> None:
    accepted = control(
        sandbox,
        "hebei",
        "POST",
        "/cases",
        json={
            "task_code": FOOD_LICENCE_TASK_CODE,
            "project_no": "SP2026112700001",
            "applicant": "石家庄某某食品有限公司",
            "accept_date": "2026-11-23 09:00:00",
            "visits": 1,
        },
    )
    assert accepted["promise_date"] == "2026-12-07 09:00:00"  # 10 working days
    mapping = MAPPINGS["hebei_case"]
    page = adapter.fetch_page("cases", None, None)
    assert page.request == {"pageNo": 1, "pageSize": 200}
    records, cases, failures = mapped(mapping, page)
    assert failures == []
    [case] = cases
    assert isinstance(case, Case)
    assert case.case_no == "SP2026112700001"
    assert case.implementation_code == FOOD_LICENCE_TASK_CODE
    assert case.applicant.name == "石家庄某某食品有限公司"
    assert case.channel == "hebei_network"
    assert case.accepted_at == datetime(2026, 11, 23, 9, tzinfo=LOCAL_ZONE)
    assert case.promised_at == datetime(2026, 12, 7, 9, tzinfo=LOCAL_ZONE)
    assert case.visits == 1 and case.evaluation is None and case.finished_at is None

    cursor = cursor_of(config, "cases", records)
    time.sleep(1.05)
    control(
        sandbox,
        "hebei",
        "PATCH",
        "/cases/SP2026112700001",
        json={"result_type": "1", "satisfaction": "1"},
    )
    _, cases, failures = mapped(mapping, adapter.fetch_page("cases", cursor, None))
    assert failures == []
    [done] = cases
    assert isinstance(done, Case)
    assert done.result == "准予" and done.finished_at is not None
    assert done.evaluation is not None
    assert (done.evaluation.satisfaction, done.evaluation.channel) == ("1", "pc")


@pytest.mark.parametrize("kind", ["billion_laughs", "xxe", "external_dtd"])
def test_hostile_xml_is_refused_quickly(adapter: Adapter, sandbox: Sandbox, kind: str) -> None:
    control(sandbox, "hebei", "POST", "/faults", json={"corrupt_next": 1, "corrupt": kind})
    started = time.perf_counter()
    with pytest.raises(HostileXml) as caught:
        adapter.fetch_page("matters", None, None)
    assert time.perf_counter() - started < 2.0
    assert caught.value.payload  # kept for the dead letter
    started = time.perf_counter()
    with pytest.raises(MappingError):
        parse_page(caught.value.payload, "xml")
    assert time.perf_counter() - started < 0.1


def test_a_503_soap_fault_is_retried(adapter: Adapter, sandbox: Sandbox) -> None:
    control(sandbox, "hebei", "POST", "/faults", json={"fail_next": 1, "fail_status": 503})
    page = adapter.fetch_page("matters", None, None)
    assert len(mapped(MAPPINGS["hebei_matter"], page)[1]) == 100
    assert control(sandbox, "hebei", "GET", "/faults")["calls"] == 2
