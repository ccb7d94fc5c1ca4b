"""hotline_centre (REST) + hotline_order / hotline_reply against the sandbox hotline centre."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
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
    work_order,
)

from hub.adapters.base import Adapter
from hub.connectors.models import ConnectorConfig
from hub.mapping import MappingError, parse_page
from hub.model.work_order import WorkOrderSubmission
from hub.sandbox import Sandbox

TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "hotline") as running:
        yield running


@pytest.fixture(scope="module")
def config(sandbox: Sandbox) -> ConnectorConfig:
    return rebased("hotline_centre", sandbox, "hotline")


@pytest.fixture(scope="module")
def adapter(config: ConnectorConfig) -> Iterator[Adapter]:
    with closing(adapter_for(config)) as built:
        yield built


@pytest.fixture(autouse=True)
def fresh(sandbox: Sandbox) -> None:
    control(sandbox, "hotline", "POST", "/reset")


def add_orders(sandbox: Sandbox, **body: Any) -> list[str]:
    return control(sandbox, "hotline", "POST", "/orders", json=body)["orderNos"]


def test_orders_become_hotline_submissions_keeping_the_source_number(
    adapter: Adapter, sandbox: Sandbox
) -> None:
    numbers = add_orders(
        sandbox,
        orders=[
            {
                "orderNo": "RX20261127000001",
                "hotline": "12369",
                "callTime": "2026-11-27 08:30:00",
                "caller": {"name": "王芳", "mobile": "13912345678"},
                "type": "投诉",
                "content": "某路口工地夜间施工，噪声很大，影响休息。",
                "address": "经开区某路与某街交叉口",
            },
            {
                "orderNo": "RX20261127000002",
                "hotline": "12315",
                "callTime": "2026-11-27 08:31:00",
                "caller": {"name": "李磊", "mobile": "13712345678"},
                "type": "举报",
                "content": "超市出售过期食品，商家拒绝退换。",
            },
        ],
        generate=8,
    )
    page = adapter.fetch_page("orders", None, None)
    assert page.request == {"page": 1, "size": 100}
    assert page.next_token is None  # 10 < 100: the last page
    _, orders, failures = mapped(MAPPINGS["hotline_order"], page)
    assert failures == []
    assert [o.external_id for o in orders] == numbers  # type: ignore[attr-defined]
    first, second = orders[:2]
    assert isinstance(first, WorkOrderSubmission) and isinstance(second, WorkOrderSubmission)
    assert (first.channel, first.source_system) == ("hotline", "hotline_centre")
    assert (first.source_hotline, second.source_hotline) == ("12369", "12315")  # as dialled
    assert first.attributes == {} and first.category_code is None  # derived at intake
    assert (first.appeal_type, second.appeal_type) == ("complaint", "report")
    assert first.requester.phone == "13912345678" and first.requester.name == "王芳"
    assert first.location is not None and first.location.address == "经开区某路与某街交叉口"
    assert first.title == "某路口工地夜间施工，噪声很大，影响休息。"
    assert first.occurred_at == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert all(o.channel == "hotline" for o in orders)  # type: ignore[attr-defined]


def test_paging_then_incremental_cursor(
    adapter: Adapter, config: ConnectorConfig, sandbox: Sandbox
) -> None:
    start = datetime(2026, 11, 20, 8, 0, 0)
    add_orders(
        sandbox,
        orders=[
            {
                "orderNo": f"RX2026112000{i:04d}",
                "hotline": "12345",
                "callTime": (start + timedelta(minutes=i)).strftime(TIME),
                "caller": {"name": "张伟", "mobile": f"139{i:08d}"},
                "type": "咨询",
                "content": f"第{i}个咨询：营业执照变更在哪里办理？",
            }
            for i in range(250)
        ],
    )
    mapping = MAPPINGS["hotline_order"]
    token: str | None = None
    sizes, seen, records = [], [], []
    for _ in range(5):
        page = adapter.fetch_page("orders", None, token)
        page_records, orders, failures = mapped(mapping, page)
        assert failures == []
        sizes.append(len(orders))
        seen += [o.external_id for o in orders]  # type: ignore[attr-defined]
        records += page_records
        token = page.next_token
        if token is None:
            break
    assert sizes == [100, 100, 50] and len(set(seen)) == 250
    cursor = cursor_of(config, "orders", records)
    assert cursor == (start + timedelta(minutes=249)).strftime(TIME)

    [new] = add_orders(sandbox, generate=1)  # called in now, after every earlier order
    page = adapter.fetch_page("orders", cursor, None)
    since = page.request["since"]
    assert since == (start + timedelta(minutes=244)).strftime(TIME)  # 5 min lookback
    again, orders, failures = mapped(mapping, page)
    assert failures == []
    newer = [o for o in orders if o.occurred_at.strftime(TIME) > cursor]  # type: ignore[attr-defined]
    assert [o.external_id for o in newer] == [new]  # type: ignore[attr-defined]
    assert len(orders) == 6  # five re-read inside the lookback window, then the new one
    assert cursor_of(config, "orders", again) > cursor


def test_reply_write_back(adapter: Adapter, sandbox: Sandbox) -> None:
    [order_no] = add_orders(
        sandbox,
        orders=[{"hotline": "12345", "type": "求助", "content": "村东头三盏路灯不亮。"}],
    )
    wo = work_order(
        "GD20261127000009",
        origin={"channel": "hotline", "source_system": "hotline_centre", "external_id": order_no},
        reply={
            "content": "已安排维修，路灯已恢复照明。",
            "replied_at": datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
            "replied_by": "经开区城管局",
        },
    )
    payload = MAPPINGS["hotline_reply"].apply(wo)
    response = adapter.call("reply", payload)
    assert response.status == 200
    assert response.data["data"] == {"orderNo": order_no, "duplicate": False}
    again = adapter.call("reply", payload)
    assert again.data["data"]["duplicate"] is True
    [stored] = control(sandbox, "hotline", "GET", "/replies")
    assert stored["order_no"] == order_no
    assert stored["reply_content"] == "已安排维修，路灯已恢复照明。"
    assert stored["reply_time"] == "2026-11-27 16:00:00"  # China local time
    assert stored["handler"] == "经开区城管局"
    assert stored["attempts"] == 2


def test_gbk_centre_still_maps(adapter: Adapter, sandbox: Sandbox) -> None:
    add_orders(sandbox, generate=3)
    control(sandbox, "hotline", "POST", "/settings", json={"charset": "gbk"})
    page = adapter.fetch_page("orders", None, None)
    assert "GBK" in page.content_type.upper()
    _, orders, failures = mapped(MAPPINGS["hotline_order"], page)
    assert failures == [] and len(orders) == 3


def test_a_503_is_retried(adapter: Adapter, sandbox: Sandbox) -> None:
    add_orders(sandbox, generate=2)
    control(sandbox, "hotline", "POST", "/faults", json={"fail_next": 1, "fail_status": 503})
    page = adapter.fetch_page("orders", None, None)
    assert len(mapped(MAPPINGS["hotline_order"], page)[1]) == 2
    assert control(sandbox, "hotline", "GET", "/faults")["calls"] == 2


def test_hostile_xml_instead_of_json_is_refused_quickly(adapter: Adapter, sandbox: Sandbox) -> None:
    control(sandbox, "hotline", "POST", "/faults", json={"corrupt_next": 1, "corrupt": "xxe"})
    page = adapter.fetch_page("orders", None, None)
    started = time.perf_counter()
    with pytest.raises(MappingError):
        parse_page(page.raw or b"", "json")
    with pytest.raises(MappingError):  # read as XML it is refused too
        parse_page(page.raw or b"", "xml")
    assert time.perf_counter() - started < 0.1
