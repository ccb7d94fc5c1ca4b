"""Hotline centre over REST: API key, paged incremental orders, idempotent replies, GBK."""

from __future__ import annotations

import json

import requests
from sandbox_helpers import control

from hub.sandbox import Sandbox
from hub.sandbox.hotline import API_KEY

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]

KEY = {"X-API-Key": API_KEY}


def orders(sb: Sandbox, **params: object) -> requests.Response:
    return requests.get(f"{sb.urls['hotline']}/api/orders", params=params, headers=KEY, timeout=5)


def reply(sb: Sandbox, order_no: str, body: bytes, content_type: str) -> requests.Response:
    return requests.post(
        f"{sb.urls['hotline']}/api/orders/{order_no}/reply",
        data=body,
        headers={**KEY, "Content-Type": content_type},
        timeout=5,
    )


REPLY = {
    "replyContent": "已责令工地停止夜间施工。",
    "replyTime": "2026-11-27 10:00:00",
    "handler": "环保局",
}


def test_api_key_is_required(sb: Sandbox) -> None:
    response = requests.get(f"{sb.urls['hotline']}/api/orders", timeout=5)
    assert response.status_code == 401 and response.json()["code"] == 401
    bad = requests.get(f"{sb.urls['hotline']}/api/orders", headers={"X-API-Key": "x"}, timeout=5)
    assert bad.status_code == 401


def test_orders_page_and_increment(sb: Sandbox) -> None:
    first = {"orderNo": "RX1", "hotline": "12369", "callTime": "2026-11-27 08:00:00",
             "caller": {"name": "张三", "mobile": "13812341234"}, "type": "投诉",
             "content": "夜间施工噪音", "address": "经开区某路口"}  # fmt: skip
    control(sb, "hotline", "POST", "/orders", json={"orders": [first], "generate": 24})
    page1 = orders(sb, page=1, size=10).json()
    assert page1["total"] == 25 and len(page1["orders"]) == 10
    assert page1["orders"][0] == first
    seen = [o for p in (1, 2, 3) for o in orders(sb, page=p, size=10).json()["orders"]]
    assert len({o["orderNo"] for o in seen}) == 25
    last = seen[-1]
    assert orders(sb, since=last["callTime"], sinceNo=last["orderNo"]).json()["total"] == 0
    control(
        sb, "hotline", "POST", "/orders", json={"orders": [{"content": "新来电", "type": "求助"}]}
    )
    new = orders(sb, since=last["callTime"], sinceNo=last["orderNo"]).json()["orders"]
    assert [o["content"] for o in new] == ["新来电"]
    assert {o["hotline"] for o in seen} <= {"12345", "12315", "12333", "12369"}
    assert all(o["type"] in {"咨询", "求助", "投诉", "举报", "建议", "表扬"} for o in seen)


def test_reply_is_idempotent_per_order(sb: Sandbox) -> None:
    control(
        sb, "hotline", "POST", "/orders", json={"orders": [{"orderNo": "RX2", "content": "噪音"}]}
    )
    body = json.dumps(REPLY, ensure_ascii=False).encode()
    first = reply(sb, "RX2", body, "application/json").json()
    again = reply(sb, "RX2", body, "application/json").json()
    assert (first["data"]["duplicate"], again["data"]["duplicate"]) == (False, True)
    stored = control(sb, "hotline", "GET", "/replies")
    assert len(stored) == 1 and stored[0]["attempts"] == 2
    assert stored[0]["reply_content"] == REPLY["replyContent"]
    assert reply(sb, "RX404", body, "application/json").status_code == 404
    assert reply(sb, "RX2", b"{not json", "application/json").status_code == 400


def test_gbk_responses_and_requests(sb: Sandbox) -> None:
    control(sb, "hotline", "POST", "/settings", json={"charset": "gbk"})
    control(
        sb,
        "hotline",
        "POST",
        "/orders",
        json={"orders": [{"orderNo": "RX3", "content": "路灯不亮"}]},
    )
    response = orders(sb)
    assert response.headers["content-type"] == "application/json; charset=GBK"
    assert "路灯不亮".encode("gbk") in response.content
    assert response.json()["orders"][0]["content"] == "路灯不亮"  # requests honours the charset
    body = json.dumps(REPLY, ensure_ascii=False).encode("gbk")
    assert reply(sb, "RX3", body, "application/json; charset=GBK").status_code == 200
    assert control(sb, "hotline", "GET", "/replies")[0]["handler"] == "环保局"
    # The same GBK bytes declared as UTF-8 are refused rather than stored garbled.
    control(sb, "hotline", "POST", "/orders", json={"orders": [{"orderNo": "RX4", "content": "x"}]})
    assert reply(sb, "RX4", body, "application/json; charset=utf-8").status_code == 400
