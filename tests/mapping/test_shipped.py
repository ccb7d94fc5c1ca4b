"""Every shipped mapping loads and maps a realistic record from its sandbox system."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from mapping_samples import (
    HEBEI_CASE,
    HEBEI_MATTERS,
    HOTLINE_PAGE,
    SEEYON_STATE,
    TONGDA_ROW,
    WEAVER_RESPONSE,
    WORK_ORDER,
)

from hub.config import REPO_ROOT
from hub.mapping import (
    DispatchResult,
    Mapping,
    StatusUpdate,
    load_mappings,
    map_records,
    parse_page,
)
from hub.model.base import LOCAL_ZONE
from hub.model.service_matter import Case, ServiceMatter
from hub.model.work_order import WorkOrder, WorkOrderSubmission

SHIPPED = {
    "weaver_status_query",
    "weaver_lookup",
    "seeyon_query",
    "tongda_query",
    "weaver_create",
    "weaver_created",
    "weaver_status",
    "seeyon_start",
    "seeyon_created",
    "seeyon_changes",
    "seeyon_state",
    "tongda_task_row",
    "tongda_status_row",
    "hebei_matter",
    "hebei_case",
    "hotline_order",
    "hotline_reply",
}


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return load_mappings(REPO_ROOT / "mappings")


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=LOCAL_ZONE)


def test_every_shipped_file_loads(mappings: dict[str, Mapping]) -> None:
    assert set(mappings) == SHIPPED
    assert all(m.path.read_text("utf-8").startswith("#") for m in mappings.values())


def test_weaver_status(mappings: dict[str, Mapping]) -> None:
    mapping = mappings["weaver_status"]
    [record] = mapping.records(parse_page(WEAVER_RESPONSE, "xml"))
    update = mapping.to_canonical(record)
    assert update == StatusUpdate(
        external_id="20431",
        status="in_progress",
        node="承办人办理",
        operator="李承办",
        updated_at=local(2026, 1, 5, 10, 20, 30),
        note="已联系施工方整改",
    )


def test_seeyon_state(mappings: dict[str, Mapping]) -> None:
    mapping = mappings["seeyon_state"]
    [record] = mapping.records(SEEYON_STATE)
    update = mapping.to_canonical(record)
    assert isinstance(update, StatusUpdate)
    assert (update.external_id, update.status, update.node) == (
        "7340012345678900001",
        "resolved",
        "结束",
    )
    assert update.updated_at == local(2026, 1, 6, 15)


def test_tongda_status_row(mappings: dict[str, Mapping]) -> None:
    update = mappings["tongda_status_row"].to_canonical(TONGDA_ROW)
    assert isinstance(update, StatusUpdate)
    assert (update.status, update.operator, update.note) == (
        "returned",
        "钱经办",
        "不属于本单位职责",
    )
    assert update.updated_at == local(2026, 1, 6, 8)


def test_hebei_matter_page(mappings: dict[str, Mapping]) -> None:
    mapping = mappings["hebei_matter"]
    records = mapping.records(parse_page(HEBEI_MATTERS, "xml"))
    matters, failures = map_records(mapping, records)
    assert failures == []
    first, second = matters
    assert isinstance(first, ServiceMatter) and isinstance(second, ServiceMatter)
    assert first.implementation_code == "111301000000000014000117"
    assert (first.basic_code, first.matter_type, first.use_level) == ("000117001", "01", "4")
    assert first.legal_limit is not None and first.legal_limit.value == 20
    assert first.promised_limit is not None and first.promised_limit.value == 5
    assert (first.visits_required, first.online, first.status) == (1, True, "active")
    assert first.at_most_one_visit and first.version == "3"
    assert first.changed_at == local(2026, 1, 4, 18)
    assert (second.online, second.status, second.changed_at) == (
        False,
        "suspended",
        local(2026, 1, 3, 12),
    )


def test_hebei_case(mappings: dict[str, Mapping]) -> None:
    mapping = mappings["hebei_case"]
    cases, failures = map_records(mapping, mapping.records(parse_page(HEBEI_CASE, "xml")))
    assert failures == []
    case, fresh = cases
    assert isinstance(case, Case) and isinstance(fresh, Case)
    assert (fresh.evaluation, fresh.result, fresh.visits) == (None, "其他", 0)
    assert case.case_no == "SP2026010500001" and case.applicant.name == "张三"
    assert case.applied_at == local(2026, 1, 2, 9)
    assert case.finished_at == local(2026, 1, 5, 11)
    assert case.result == "准予"
    assert case.evaluation is not None
    assert (case.evaluation.satisfaction, case.evaluation.channel) == ("1", "pc")
    assert case.visits == 1


def test_hotline_order_page(mappings: dict[str, Mapping]) -> None:
    mapping = mappings["hotline_order"]
    orders, failures = map_records(mapping, mapping.records(HOTLINE_PAGE))
    assert failures == []
    first, second = orders
    assert isinstance(first, WorkOrderSubmission) and isinstance(second, WorkOrderSubmission)
    assert (first.channel, first.source_system, first.external_id) == (
        "hotline",
        "hotline_centre",
        "RX202601050001",
    )
    assert (first.appeal_type, first.urgency) == ("complaint", "urgent")
    assert first.requester.phone == "13912345678"
    assert first.title == "某超市销售过期食品，要求处理并答复。"[:30]
    assert first.source_hotline == "12315" and first.attributes == {}
    assert first.occurred_at == local(2026, 1, 5, 9, 30)
    assert (second.appeal_type, second.urgency, second.location) == ("consultation", "normal", None)


def _work_order() -> WorkOrder:
    return WorkOrder.model_validate(WORK_ORDER)


def test_weaver_create(mappings: dict[str, Mapping]) -> None:
    params = mappings["weaver_create"].apply(_work_order())
    info: dict[str, Any] = params["requestInfo"]
    assert params["userId"] == 8
    assert info["requestName"] == "【12345】夜间施工噪音扰民"
    assert info["requestLevel"] == 2
    assert info["workflowBaseInfo"] == {"workflowId": "1001"}
    pairs = info["workflowMainTableInfo"]["requestRecords"]["WorkflowRequestTableField"]
    fields = {pair["fieldName"]: pair["fieldValue"] for pair in pairs}
    assert fields["hub_wo_no"] == "GD20260105000123"
    assert fields["sqlx"] == "投诉"
    assert fields["blsx"] == "2026-01-12 17:00:00"  # 09:00 UTC shown in Asia/Shanghai
    assert fields["slsj"] == "2026-01-05 09:30:00"


def test_seeyon_start(mappings: dict[str, Mapping]) -> None:
    body = mappings["seeyon_start"].apply(_work_order())
    assert (body["templateCode"], body["hub_wo_no"]) == ("JKQ_CGJ_SQ", "GD20260105000123")
    assert body["subject"] == "【12345】夜间施工噪音扰民"
    assert body["data"]["urgency"] == "特急"
    assert body["data"]["deadline"] == "2026-01-12 17:00:00"


def test_tongda_task_row(mappings: dict[str, Mapping]) -> None:
    row = mappings["tongda_task_row"].apply(_work_order())
    assert row == {
        "task_no": "GD20260105000123",
        "title": "夜间施工噪音扰民",
        "content": "经开区某路口工地夜间施工，影响休息。",
        "urgency": 2,
        "status": 0,
        "created_at": "2026-01-05 09:30:00",
    }


def test_hotline_reply(mappings: dict[str, Mapping]) -> None:
    body = mappings["hotline_reply"].apply(_work_order())
    assert body == {
        "orderNo": "RX1",
        "replyContent": "已责令施工方夜间停工",
        "replyTime": "2026-01-06 16:00:00",
        "handler": "环保局",
    }


def test_outbound_accepts_a_plain_dict(mappings: dict[str, Mapping]) -> None:
    assert mappings["hotline_reply"].apply(WORK_ORDER)["orderNo"] == "RX1"


def weaver_created_reply(out: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<doCreateWorkflowRequestResponse xmlns="http://webservices.workflow.weaver">'
        f"<out>{out}</out></doCreateWorkflowRequestResponse></soap:Body></soap:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    ("out", "external_id", "refusal"),
    [
        ("10001", "10001", None),
        ("-2", None, "-2: 用户没有流程创建权限 (the user may not create this workflow)"),
        ("-9", None, "-9: 泛微返回未知错误码 (Weaver returned an unknown error code)"),
        ("", None, "未返回任务编号 (no task id in the reply)"),
    ],
)
def test_weaver_created_negative_request_ids_are_refusals(
    mappings: dict[str, Mapping], out: str, external_id: str | None, refusal: str | None
) -> None:
    mapping = mappings["weaver_created"]
    [record] = mapping.records(parse_page(weaver_created_reply(out), "xml"))
    result = mapping.to_canonical(record)
    assert isinstance(result, DispatchResult)
    assert (result.external_id, result.refusal) == (external_id, refusal)


@pytest.mark.parametrize(
    ("body", "external_id", "refusal"),
    [
        ({"code": 0, "message": "成功", "data": {"flowId": 7340012}}, "7340012", None),
        ({"code": 500, "message": "模板不存在"}, None, "500: 模板不存在"),
        ({"code": "1001", "message": "无权发起"}, None, "1001: 无权发起"),
    ],
)
def test_seeyon_created_non_zero_codes_are_refusals(
    mappings: dict[str, Mapping],
    body: dict[str, Any],
    external_id: str | None,
    refusal: str | None,
) -> None:
    mapping = mappings["seeyon_created"]
    [record] = mapping.records(body)
    result = mapping.to_canonical(record)
    assert isinstance(result, DispatchResult)
    assert (result.external_id, result.refusal) == (external_id, refusal)
