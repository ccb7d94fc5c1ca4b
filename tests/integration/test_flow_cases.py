"""The flow's other paths: merge, emergency, out of scope, revisit, split, scope, faults."""

from __future__ import annotations

import json
import time
from typing import Any

from flow_helpers import LAMP, Hub

from hub.services.callbacks import sign
from hub.services.dispatch import DispatchPolicy
from hub.store.dead_letters import list_dead_letters
from hub.store.work_orders import list_events

pytest_plugins = ["flow_fixtures"]


def delivered(order: dict[str, Any]) -> bool:
    states = [a["delivery_state"] for a in order["assignments"]]
    return bool(states) and all(s in ("delivered", "inbox") for s in states)


def status_is(*wanted: str) -> Any:
    return lambda order: order["status"] in wanted


def internal_events(hub: Hub, wo_no: str) -> list[Any]:
    with hub.runtime.engine.connect() as conn:
        return list_events(conn, wo_no, public_only=False)


def test_a_repeat_of_an_open_order_is_merged_into_it(hub: Hub, keys: Any) -> None:
    first = hub.submit(keys.portal, **LAMP)["wo_no"]
    hub.wait_for(keys.staff, first, delivered)
    repeat = {**LAMP, "content": "前进村东头那三盏路灯还是不亮，晚上走路很黑。"}
    second = hub.submit(keys.portal, **repeat)["wo_no"]
    merged = hub.wait_for(keys.staff, second, status_is("duplicate"))
    assert merged["duplicate_of"] == first and merged["assignments"] == []
    target = hub.order(keys.staff, first)
    assert target["merged"] == [second] and target["status"] == "dispatched"
    assert "merged" in [e["action"] for e in hub.timeline(first)["events"]]


def test_other_place_is_not_merged(hub: Hub, keys: Any) -> None:
    first = hub.submit(keys.portal, **LAMP)["wo_no"]
    hub.wait_for(keys.staff, first, delivered)
    elsewhere = {
        **LAMP,
        "title": "小区路灯不亮",
        "location": {"address": "幸福社区5号楼", "region_code": "130199002001"},
    }
    second = hub.submit(keys.portal, **elsewhere)["wo_no"]
    order = hub.wait_for(keys.staff, second, lambda o: o["status"] != "received")
    assert order["status"] != "duplicate" and order["duplicate_of"] is None


def test_emergency_is_transferred_at_once(hub: Hub, keys: Any) -> None:
    wo_no = hub.submit(
        keys.portal,
        channel="app",
        appeal_type="help",
        title="楼下着火了",
        content="幸福小区3号楼一楼着火了，浓烟很大，请马上来人！",
        requester={"name": "吴刚", "phone": "13712345678"},
    )["wo_no"]
    order = hub.wait_for(keys.staff, wo_no, status_is("transferred_emergency"))
    assert order["assignments"] == [] and order["closed_at"] is not None
    [event] = [e for e in internal_events(hub, wo_no) if e.action == "transferred"]
    assert event.data["hotline"] == "119"


def test_out_of_scope_is_told_the_right_route(hub: Hub, keys: Any) -> None:
    wo_no = hub.submit(
        keys.portal,
        channel="portal",
        appeal_type="complaint",
        title="请求干预法院案件",
        content="我和开发商的合同纠纷已经在法院诉讼中，希望政府出面让法院判我赢。",
        requester={"name": "郑海", "phone": "13612345678"},
    )["wo_no"]
    order = hub.wait_for(keys.staff, wo_no, status_is("out_of_scope"))
    assert order["reply"]["content"]  # the route told to the requester
    assert "法院" in order["reply"]["content"] or "诉讼" in order["reply"]["content"]
    requester = hub.client.get(f"/api/v1/work-orders/{wo_no}?query_code=X")
    assert requester.status_code == 404


def test_dissatisfied_revisit_reopens_to_the_same_lead(hub: Hub, keys: Any) -> None:
    wo_no = hub.submit(keys.portal, **LAMP)["wo_no"]
    order = hub.wait_for(keys.staff, wo_no, delivered)
    [lead] = order["assignments"]
    village = lead["unit_code"]
    hub.act(keys.staff, wo_no, "sign", unit_code=village)
    hub.act(keys.staff, wo_no, "feedback", unit_code=village, content="已更换灯泡")
    hub.act(keys.staff, wo_no, "reply", content="路灯已修复。")
    first_clock = hub.order(keys.staff, wo_no)["sla"]["clock_started_at"]
    done = hub.act(keys.staff, wo_no, "revisit", satisfaction="4", comment="只修了一盏")
    assert done["status"] == "reopened"
    order = hub.wait_for(keys.staff, wo_no, lambda o: delivered(o) and len(o["assignments"]) == 2)
    old, new = order["assignments"]
    assert (old["unit_code"], old["state"]) == (village, "withdrawn")
    assert (new["unit_code"], new["role"], new["state"]) == (village, "lead", "dispatched")
    assert order["sla"]["clock_started_at"] > first_clock  # a new round for the same lead
    assert new["due_at"] == order["sla"]["resolve_due"]
    assert order["closed_at"] is None
    hub.act(keys.staff, wo_no, "feedback", unit_code=village, content="三盏均已修复")
    hub.act(keys.staff, wo_no, "reply", content="三盏路灯均已修复。")
    assert hub.act(keys.staff, wo_no, "revisit", satisfaction="2")["status"] == "revisited"
    assert hub.act(keys.staff, wo_no, "close")["status"] == "archived"
    assert hub.act(keys.staff, wo_no, "close", 409)["error"]["code"] == "invalid_transition"


def test_a_unit_key_acts_only_on_its_own_assignment(hub: Hub, keys: Any) -> None:
    wo_no = hub.complaint(
        keys.portal, "ENV-NOISE", "夜间施工噪音", "工地夜间施工噪音扰民。另外渣土车撒漏泥土。"
    )
    hub.wait_for(keys.staff, wo_no, delivered)
    signed = hub.act(keys.env_unit, wo_no, "sign")
    assert signed["status"] == "signed"
    refused = hub.act(keys.env_unit, wo_no, "sign", 403, unit_code="JKQ-CGJ")
    assert refused["error"]["code"] == "forbidden_unit"
    staff_only = hub.act(keys.env_unit, wo_no, "reply", 403, content="x")
    assert staff_only["error"]["code"] == "forbidden_scope"
    assert hub.act(keys.env_unit, wo_no, "sign", 409)["error"]["code"] == "no_assignment"
    bad = hub.act(keys.env_unit, wo_no, "extend", 422, days=0, reason="x")
    assert bad["error"]["code"] == "invalid_body"
    assert hub.act(keys.staff, wo_no, "fly", 404)["error"]["code"] == "unknown_action"


def test_a_refusal_falls_back_to_the_inbox_with_an_alert(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    hub.edit("mapping", "seeyon_start", '{const: "JKQ_CGJ_SQ"}', '{const: "NO_SUCH_TEMPLATE"}')
    wo_no = hub.complaint(keys.staff, "URB-MUCK-SPILL", "渣土车撒漏", "渣土车沿长江大道撒漏泥土。")
    assert hub.runtime.router().route(wo_no) == "dispatched"
    assert hub.runtime.sweep_dispatch().done == {"inbox": 1}
    [assignment] = hub.order(keys.staff, wo_no)["assignments"]
    assert assignment["delivery_state"] == "inbox"
    [alert] = [e for e in internal_events(hub, wo_no) if e.data.get("alert")]
    assert "1001" in (alert.note or "") and not alert.public
    assert hub.control("seeyon", "GET", "/tasks") == []


def test_a_system_down_keeps_orders_waiting_then_delivers_once(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    hub.edit("connector", "weaver_env", "open_seconds: 60", "open_seconds: 1")
    hub.edit("connector", "weaver_env", "failure_threshold: 5", "failure_threshold: 2")
    hub.runtime.dispatch_policy = DispatchPolicy(max_attempts=3, backoff_base=0.05)
    hub.runtime.pool.adapter("weaver_env")  # the WSDL is loaded; then the system goes down
    hub.control("weaver", "POST", "/faults", json={"fail_next": 50, "fail_status": 503})
    wo_no = hub.complaint(keys.staff, "ENV-NOISE", "夜间施工噪音", "工地夜间施工噪音扰民。")
    assert hub.runtime.router().route(wo_no) == "dispatched"
    outcomes: list[str] = []
    for _ in range(6):
        time.sleep(0.1)
        outcomes += list(hub.runtime.sweep_dispatch().done)
    assert "wait" in outcomes  # the circuit opened: no attempt spent while it is open
    [assignment] = hub.order(keys.staff, wo_no)["assignments"]
    assert assignment["delivery_state"] in ("pending", "failed")
    hub.control("weaver", "DELETE", "/faults")
    deadline = time.monotonic() + 10
    while hub.order(keys.staff, wo_no)["assignments"][0]["delivery_state"] != "delivered":
        assert time.monotonic() < deadline
        time.sleep(0.3)
        hub.runtime.sweep_dispatch()
    tasks = [t for t in hub.control("weaver", "GET", "/tasks") if t["hub_wo_no"] == wo_no]
    assert len(tasks) == 1


SECRET = "seeyon-callback-secret"  # AIRFLOW_CONN_SEEYON_URBAN_CALLBACK in the sandbox env


def push(hub: Hub, body: bytes, *, nonce: str, at: int | None = None, secret: str = SECRET) -> Any:
    stamp = str(at if at is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Timestamp": stamp,
        "X-Hub-Nonce": nonce,
        "X-Hub-Signature": sign(secret, stamp, nonce, body),
    }
    return hub.client.post("/api/v1/callbacks/seeyon_urban", content=body, headers=headers)


def state_body(flow_id: str, state: int, name: str, opinion: str = "") -> bytes:
    data = {
        "flowId": flow_id,
        "state": state,
        "stateName": name,
        "currentNode": "城管执法中队",
        "updateTime": "2026-11-27 10:00:00",
        "handler": "赵队长",
        "opinion": opinion,
    }
    return json.dumps({"code": 0, "message": "成功", "data": data}, ensure_ascii=False).encode()


def seeyon_task(hub: Hub, keys: Any) -> tuple[str, str]:
    """A muck-spill complaint routed and delivered to Seeyon: its number and Seeyon's flowId."""
    wo_no = hub.complaint(keys.staff, "URB-MUCK-SPILL", "渣土车撒漏", "渣土车沿长江大道撒漏泥土。")
    hub.runtime.router().route(wo_no)
    assert hub.runtime.sweep_dispatch().done == {"delivered": 1}
    [assignment] = hub.order(keys.staff, wo_no)["assignments"]
    return wo_no, assignment["external_id"]


def test_signed_callbacks_move_the_order_and_replays_are_refused(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    wo_no, flow_id = seeyon_task(hub, keys)

    signed = push(hub, state_body(flow_id, 1, "处理中"), nonce="nonce-0001")
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"applied": 1, "unchanged": 0, "unknown": []}
    assert hub.order(keys.staff, wo_no)["status"] == "in_progress"

    replay = push(hub, state_body(flow_id, 1, "处理中"), nonce="nonce-0001")
    assert (replay.status_code, replay.json()["error"]["code"]) == (409, "replayed")
    forged = push(hub, state_body(flow_id, 3, "已办结"), nonce="nonce-0002", secret="guess")
    assert (forged.status_code, forged.json()["error"]["code"]) == (401, "bad_signature")
    stale = push(hub, state_body(flow_id, 3, "已办结"), nonce="nonce-0003", at=1_700_000_000)
    assert (stale.status_code, stale.json()["error"]["code"]) == (401, "stale_timestamp")
    assert hub.order(keys.staff, wo_no)["status"] == "in_progress"  # none of them acted

    bad = push(hub, b'{"code": 0, "data": {"state": 1}}', nonce="nonce-0004")
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "unmappable")
    with hub.runtime.engine.connect() as conn:
        [letter] = list_dead_letters(conn, "seeyon_urban")
    assert letter.stream == "callback" and letter.payload == '{"code": 0, "data": {"state": 1}}'

    done = push(hub, state_body(flow_id, 3, "已办结", "已清扫并处罚"), nonce="nonce-0005")
    assert done.json()["applied"] == 1
    order = hub.order(keys.staff, wo_no)
    assert order["status"] == "resolved"
    assert order["assignments"][0]["feedback"] == "已清扫并处罚"
    again = push(hub, state_body(flow_id, 3, "已办结", "已清扫并处罚"), nonce="nonce-0006")
    assert again.json() == {"applied": 0, "unchanged": 1, "unknown": []}
    unknown = push(hub, state_body("999", 1, "处理中"), nonce="nonce-0007")
    assert unknown.json()["unknown"] == ["999"]
    assert hub.client.post("/api/v1/callbacks/weaver_env", content=b"{}").status_code == 404


def test_housekeeping_forgets_only_what_has_expired(quiet_hub: Hub, keys: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select

    from hub.model.base import utcnow
    from hub.store.schema import callback_nonces, idempotency_keys

    hub = quiet_hub
    body = {**LAMP, "attributes": {}}
    response = hub.client.post(
        "/api/v1/work-orders",
        json=body,
        headers={"X-API-Key": keys.portal, "Idempotency-Key": "k1"},
    )
    assert response.status_code == 201
    push(hub, b"{}", nonce="nonce-house-1")  # rejected as unmappable, but the nonce is kept

    def counts() -> tuple[int, int]:
        with hub.runtime.engine.connect() as conn:
            keys_left = conn.execute(select(func.count()).select_from(idempotency_keys))
            nonces_left = conn.execute(select(func.count()).select_from(callback_nonces))
            return keys_left.scalar_one(), nonces_left.scalar_one()

    assert counts() == (1, 1)
    assert hub.runtime.sweep_housekeeping().done.get("idempotency_keys") == 0
    assert counts() == (1, 1)
    later = utcnow() + timedelta(hours=hub.settings.idempotency_ttl_hours + 3)
    report = hub.runtime.sweep_housekeeping(now=later).done
    assert (report["idempotency_keys"], report["callback_nonces"]) == (1, 1)
    assert counts() == (0, 0)


def test_incremental_status_stream_feeds_back_once(quiet_hub: Hub, keys: Any) -> None:
    """Seeyon's state changes pulled by cursor (the status_changes stream) move the order."""
    from hub.services.connectors import stream_puller

    hub = quiet_hub
    wo_no, flow_id = seeyon_task(hub, keys)

    def pull() -> Any:
        engine = hub.runtime.engine
        return stream_puller(hub.settings, engine, "seeyon_urban", "status_changes").pull()

    first = pull()
    assert first.unchanged >= 1  # "pending" changes nothing
    hub.control(
        "seeyon",
        "POST",
        f"/tasks/{flow_id}/finish",
        json={"operator": "赵队长", "opinion": "已清扫"},
    )
    second = pull()
    assert second.changed == 1
    order = hub.order(keys.staff, wo_no)
    assert order["status"] == "resolved" and order["assignments"][0]["feedback"] == "已清扫"
    third = pull()  # the lookback reads the change again: nothing more happens
    assert third.changed == 0
    feedback = [e for e in hub.timeline(wo_no)["events"] if e["action"] == "feedback"]
    assert len(feedback) == 1


def test_matters_at_different_tiers_become_child_orders(quiet_hub: Hub, keys: Any) -> None:
    hub = quiet_hub
    wo_no = hub.submit(
        keys.portal,
        channel="portal",
        appeal_type="complaint",
        title="村里路灯不亮和工地噪音",
        content="前进村东头三盏路灯不亮，晚上出行不便。另外，村口工地夜间施工噪音扰民。",
        location={"address": "永安镇前进村", "region_code": "130199001001"},
        requester={"name": "刘强", "phone": "13912345678"},
    )["wo_no"]
    assert hub.runtime.router().route(wo_no) == "split"
    parent = hub.order(keys.staff, wo_no)
    assert parent["status"] == "triaged" and parent["assignments"] == []
    children = parent["children"]
    assert len(children) == 2
    [split] = [e for e in internal_events(hub, wo_no) if e.action == "split"]
    assert split.data["children"] == children
    routed = {hub.runtime.router().route(child) for child in children}
    assert routed == {"dispatched"}
    units = {hub.order(keys.staff, c)["assignments"][0]["unit_code"] for c in children}
    assert units == {"JKQ-T01-V01", "JKQ-HBJ"}  # the village, and the department for the noise
    assert all(hub.order(keys.staff, c)["parent_wo_no"] == wo_no for c in children)
