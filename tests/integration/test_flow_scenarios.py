"""SCENARIOS.md end to end: API → bus → router → dispatcher → sandbox OA → feedback → reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import Hub, running_hub
from integration_helpers import sandbox_for

from hub.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "weaver", "seeyon", "tongda", "hotline") as running:
        yield running


@pytest.fixture
def hub(sandbox: Sandbox, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    for system in ("weaver", "seeyon", "tongda", "hotline"):
        sandbox_reset(sandbox, system)
    with running_hub(sandbox, database_url, tmp_path) as running:
        yield running


def sandbox_reset(sandbox: Sandbox, system: str) -> None:
    from integration_helpers import control

    control(sandbox, system, "POST", "/reset")


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
