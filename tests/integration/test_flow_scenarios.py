"""SCENARIOS.md end to end: API → bus → router → dispatcher → sandbox OA → feedback → reply."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flow_helpers import Hub

from hub.store.work_orders import list_events

pytest_plugins = ["flow_fixtures"]


def delivered(order: dict[str, Any]) -> bool:
    states = [a["delivery_state"] for a in order["assignments"]]
    return bool(states) and all(s in ("delivered", "inbox") for s in states)


def events(hub: Hub, wo_no: str) -> list[dict[str, Any]]:
    return list(hub.timeline(wo_no)["events"])


def test_scenario_2_one_complaint_two_departments(hub: Hub, keys: Any) -> None:
    """Noise → environment bureau (Weaver SOAP, lead); muck spill → urban (Seeyon REST, co)."""
    receipt = hub.submit(
        keys.portal,
        channel="app",
        appeal_type="complaint",
        title="路口夜间施工噪音和渣土车撒漏",
        content="长江大道与黄河路交叉口工地夜间施工噪音扰民，另外渣土车沿路撒漏泥土，请处理。",
        location={"address": "经开区长江大道与黄河路交叉口"},
        requester={"name": "王芳", "phone": "13812341234", "confidential": True},
    )
    wo_no = receipt["wo_no"]
    order = hub.wait_for(keys.staff, wo_no, delivered)
    by_unit = {a["unit_code"]: a for a in order["assignments"]}
    assert by_unit["JKQ-HBJ"]["role"] == "lead" and by_unit["JKQ-CGJ"]["role"] == "co"
    assert order["status"] == "dispatched"
    weaver = hub.control("weaver", "GET", f"/by-wo-no/{wo_no}")
    assert by_unit["JKQ-HBJ"]["external_id"] == str(weaver["requestId"])
    seeyon = [t for t in hub.control("seeyon", "GET", "/tasks") if t.get("hub_wo_no") == wo_no]
    assert [str(t["flowId"]) for t in seeyon] == [by_unit["JKQ-CGJ"]["external_id"]]

    # The environment bureau finishes in Weaver; the order waits for urban management.
    request_id = weaver["requestId"]
    hub.control("weaver", "POST", f"/tasks/{request_id}/sign", json={"operator": "王收文"})
    hub.control(
        "weaver",
        "POST",
        f"/tasks/{request_id}/finish",
        json={"operator": "李承办", "opinion": "已责令工地夜间停工"},
    )
    hub.runtime.sweep_feedback()
    order = hub.order(keys.staff, wo_no)
    assert order["status"] == "in_progress"
    assert hub.act(keys.staff, wo_no, "reply", 409, content="已处理")["error"]["code"] == (
        "invalid_transition"
    )

    flow_id = by_unit["JKQ-CGJ"]["external_id"]
    hub.control(
        "seeyon",
        "POST",
        f"/tasks/{flow_id}/finish",
        json={"operator": "赵队长", "opinion": "已清扫并处罚"},
    )
    hub.runtime.sweep_feedback()
    order = hub.order(keys.staff, wo_no)
    assert order["status"] == "resolved"
    assert {a["state"] for a in order["assignments"]} == {"fed_back"}

    replied = hub.act(
        keys.staff, wo_no, "reply", content="两个问题均已处理：工地夜间停工，渣土已清扫。"
    )
    assert replied["status"] == "replied"
    timeline = hub.timeline(wo_no)
    text = str(timeline)
    assert "王芳" not in text and "13812341234" not in text
    actions = [e["action"] for e in timeline["events"]]
    assert actions[:2] == ["received", "triaged"]
    assert actions.count("feedback") == 2 and actions[-1] == "replied"


def test_scenario_3_down_to_the_village_through_the_town_inbox(hub: Hub, keys: Any) -> None:
    receipt = hub.submit(
        keys.portal,
        channel="portal",
        appeal_type="help",
        title="村东头三盏路灯不亮",
        content="前进村东头三盏路灯连续一周不亮，晚上出行不便。",
        location={"address": "永安镇前进村东头", "region_code": "130199001001"},
        requester={"name": "刘强", "phone": "13912345678"},
    )
    wo_no = receipt["wo_no"]
    order = hub.wait_for(keys.staff, wo_no, delivered)
    [lead] = order["assignments"]
    assert lead["role"] == "lead" and lead["delivery_state"] == "inbox"
    village = lead["unit_code"]
    unit = hub.client.get(f"/api/v1/org-units/{village}", headers={"X-API-Key": keys.staff})
    assert unit.status_code in (200, 404)
    assert village.startswith("JKQ-T") and "-V" in village  # a village, not a department


def test_scenario_1_answered_directly_within_half_an_hour(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    receipt = hub.submit(
        keys.staff,
        channel="hotline",
        appeal_type="consultation",
        title="营业执照变更在哪里办理",
        content="经开区哪里办理营业执照变更？",
        requester={"name": "陈明", "phone": "13812341234"},
    )
    wo_no = receipt["wo_no"]
    answer = "请到经开区政务服务中心一楼市场监管窗口办理，可网上预约。"
    done = hub.act(keys.staff, wo_no, "answer", content=answer)
    assert done["status"] == "answered_directly"
    stored = hub.order(keys.staff, wo_no)
    assert stored["closed_at"] is not None
    assert stored["sla"]["responded_at"] <= stored["sla"]["response_due"]
    timeline = hub.timeline(wo_no)
    assert [e["action"] for e in timeline["events"]] == ["received", "answered"]
    with hub.runtime.engine.connect() as conn:
        [answered] = [
            e for e in list_events(conn, wo_no, public_only=True) if e.action == "answered"
        ]
    assert answered.data["within_response_target"] is True
    assert answered.data["response_minutes"] < 30
    assert "13812341234" not in str(timeline)
    # Routing later finds nothing to do: the order is closed.
    assert hub.runtime.router().route(wo_no) == "skipped"
    # A closed order cannot be answered or dispatched again.
    again = hub.act(keys.staff, wo_no, "answer", 409, content=answer)
    assert "直接答复办结" in again["error"]["message"]


def test_scenario_4_returned_once_and_reassigned(hub: Hub, keys: Any) -> None:
    """Housing returns a property-management matter; the return is upheld and reassigned."""
    wo_no = hub.complaint(
        keys.staff,
        "HOUSING-QUALITY",
        "楼道墙体开裂",
        "小区物业不维修楼道墙体裂缝，多次反映无人处理。",
        location={"address": "经开区幸福小区3号楼"},
    )
    order = hub.wait_for(keys.staff, wo_no, delivered)
    [lead] = order["assignments"]
    assert lead["unit_code"] == "JKQ-ZJJ"
    # Housing (Tongda via its database) returns it with a reason.
    hub.control(
        "tongda",
        "POST",
        f"/by-wo-no/{lead['external_id']}/return",
        json={"operator": "钱经办", "opinion": "属于社区物业管理事项，不属于本单位职责"},
    )
    hub.runtime.sweep_feedback()
    order = hub.order(keys.staff, wo_no)
    assert order["status"] == "returned"
    # A second return by the same unit is refused by the rules (kept as a note for staff).
    again = hub.act(keys.staff, wo_no, "return", 409, unit_code="JKQ-ZJJ", reason="再次退回")
    assert again["error"]["code"] in ("returned_before", "no_assignment", "invalid_transition")
    # Objection reviewed: the return is upheld and the community takes it over.
    done = hub.act(
        keys.staff,
        wo_no,
        "reassign",
        unit_code="JKQ-T02-V01",
        uphold_return=True,
        note="派单异议成立，改派社区",
    )
    assert done["status"] == "triaged"
    order = hub.wait_for(keys.staff, wo_no, lambda o: o["status"] == "dispatched")
    units = [(a["unit_code"], a["state"]) for a in order["assignments"]]
    assert units == [("JKQ-ZJJ", "returned"), ("JKQ-T02-V01", "dispatched")]
    actions = [e["action"] for e in hub.timeline(wo_no)["events"]]
    assert "returned" in actions and "reassigned" in actions


def test_scenario_5_overdue_and_supervised(quiet_hub: Hub, keys: Any) -> None:
    """Warning, urging on the due day, escalation after it, overdue days counted — once each."""
    hub = quiet_hub
    wo_no = hub.complaint(
        keys.staff, "ENV-NOISE", "工地夜间施工噪音", "工地每晚施工到凌晨，噪音扰民。"
    )
    assert hub.runtime.router().route(wo_no) == "dispatched"
    assert hub.runtime.sweep_dispatch().done == {"delivered": 1}
    order = hub.order(keys.staff, wo_no)
    sla = order["sla"]
    warn_at, due = (datetime.fromisoformat(sla[k]) for k in ("warn_at", "resolve_due"))
    assert warn_at < due

    def sweep(at: datetime) -> dict[str, int]:
        return hub.runtime.sweep_supervise(now=at).done

    assert sweep(warn_at - timedelta(minutes=1)) == {}
    assert sweep(warn_at + timedelta(minutes=1)) == {"warned": 1}
    assert sweep(warn_at + timedelta(minutes=2)) == {}  # a mark is made once
    assert sweep(due - timedelta(minutes=1)).get("urged") == 1
    late = sweep(due + timedelta(days=7))
    assert late.get("supervised") == 1 and late.get("overdue") == 1
    assert sweep(due + timedelta(days=7)) == {}
    actions = [e["action"] for e in hub.timeline(wo_no)["events"]]
    marks = [a for a in actions if a in ("warned", "urged", "supervised", "overdue")]
    # warning, then urging; escalation and the overdue count come together, a week late
    assert marks[:2] == ["warned", "urged"]
    assert sorted(marks[2:]) == ["overdue", "supervised"]
    with hub.runtime.engine.connect() as conn:
        overdue = [e for e in list_events(conn, wo_no, public_only=False) if e.action == "overdue"]
    assert overdue[-1].data["overdue_days"] >= 4  # a week late: at least 4 working days
    urged = hub.client.get("/api/v1/work-orders/" + wo_no, headers={"X-API-Key": keys.staff})
    assert urged.json()["status"] == "dispatched"  # marks, not states
