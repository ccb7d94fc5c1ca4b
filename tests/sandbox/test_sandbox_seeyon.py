"""Seeyon OA over REST: token login, process start, flow state, queries for polls."""

from __future__ import annotations

import pytest
import requests
from sandbox_helpers import control

from hub.sandbox import Sandbox

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]

REST = "/seeyon/rest"


def login(sb: Sandbox) -> str:
    response = requests.get(f"{sb.urls['seeyon']}{REST}/token/hub/seeyon-sandbox", timeout=5)
    assert response.status_code == 200
    return response.text


def start(sb: Sandbox, token: str, wo_no: str = "JK-10", **overrides: object) -> dict:
    body = {
        "templateCode": "JKQ_CGJ_SQ",
        "subject": "渣土车沿路撒漏",
        "data": {"content": "渣土车沿路撒漏泥土", "address": "经开区某路东段"},
        "hub_wo_no": wo_no,
        **overrides,
    }
    response = requests.post(
        f"{sb.urls['seeyon']}{REST}/bpm/process/start",
        json=body,
        headers={"token": token},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


def get(sb: Sandbox, path: str, token: str, **params: object) -> requests.Response:
    return requests.get(
        f"{sb.urls['seeyon']}{REST}{path}", headers={"token": token}, params=params, timeout=5
    )


def test_token_as_text_or_json(sb: Sandbox) -> None:
    assert len(login(sb)) == 32
    response = requests.get(
        f"{sb.urls['seeyon']}{REST}/token/hub/seeyon-sandbox",
        headers={"Accept": "application/json"},
        timeout=5,
    )
    assert len(response.json()["id"]) == 32


def test_bad_login_and_bad_token_are_401(sb: Sandbox) -> None:
    assert requests.get(f"{sb.urls['seeyon']}{REST}/token/hub/wrong", timeout=5).status_code == 401
    response = get(sb, "/flow/state/1", "not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == 401


def test_start_and_read_state(sb: Sandbox) -> None:
    token = login(sb)
    started = start(sb, token)
    assert started["code"] == 0
    flow_id = started["data"]["flowId"]
    state = get(sb, f"/flow/state/{flow_id}", token).json()["data"]
    assert state["state"] == 0 and state["currentNode"] == "收文登记"
    assert state["hub_wo_no"] == "JK-10" and state["updateTime"]
    sent = control(sb, "seeyon", "GET", f"/tasks/{flow_id}")
    assert sent["data"]["address"] == "经开区某路东段"


@pytest.mark.parametrize(
    ("overrides", "code"), [({"templateCode": "NOPE"}, 1001), ({"subject": " "}, 1002)]
)
def test_business_errors_have_nonzero_codes(sb: Sandbox, overrides: dict, code: int) -> None:
    assert start(sb, login(sb), **overrides)["code"] == code


def test_expired_token_needs_a_new_login(sb: Sandbox) -> None:
    token = login(sb)
    control(sb, "seeyon", "POST", "/tokens/expire")
    assert get(sb, "/flow/changed", token).status_code == 401
    assert get(sb, "/flow/changed", login(sb)).status_code == 200


def test_query_by_work_order_number_finds_duplicates(sb: Sandbox) -> None:
    token = login(sb)
    assert get(sb, "/flow/query", token, hub_wo_no="JK-11").json()["data"] == []
    start(sb, token, "JK-11")
    start(sb, token, "JK-11")
    assert len(get(sb, "/flow/query", token, hub_wo_no="JK-11").json()["data"]) == 2


def test_department_actions_and_changed_list(sb: Sandbox) -> None:
    token = login(sb)
    first = start(sb, token, "JK-12")["data"]["flowId"]
    start(sb, token, "JK-13")
    control(sb, "seeyon", "POST", "/by-wo-no/JK-12/sign", json={"operator": "赵执法"})
    control(sb, "seeyon", "POST", f"/tasks/{first}/return", json={"opinion": "属物业管理事项"})
    state = get(sb, f"/flow/state/{first}", token).json()["data"]
    assert (state["state"], state["stateName"], state["opinion"]) == (2, "已回退", "属物业管理事项")
    changed = get(sb, "/flow/changed", token, since=state["updateTime"], size=1).json()["data"]
    assert changed["total"] >= 1 and changed["items"][0]["updateTime"] >= state["updateTime"]
    everything = get(sb, "/flow/changed", token, page=1, size=10).json()["data"]
    assert everything["total"] == 2
    assert get(sb, "/flow/changed", token, since="2999-01-01 00:00:00").json()["data"]["total"] == 0
