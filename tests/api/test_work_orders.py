"""Canonical work-order API: every path, every scope rule, idempotency and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from conftest import Keys, submission
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from hub.model.base import utcnow
from hub.store.schema import assignments, events, idempotency_keys, outbox, work_orders

URL = "/api/v1/work-orders"


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (work_orders, events, outbox)
        )


def submit(client: TestClient, keys: Keys, **overrides: Any) -> dict[str, Any]:
    response = client.post(URL, json=submission(**overrides), headers=keys.h(keys.portal))
    assert response.status_code == 201, response.text
    return response.json()


def assign(engine: Engine, wo_no: str, unit_code: str) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            assignments.insert().values(
                wo_no=wo_no,
                unit_code=unit_code,
                role="lead",
                state="dispatched",
                delivery_state="delivered",
                return_count=0,
                created_at=now,
                updated_at=now,
            )
        )


# --- submit ---------------------------------------------------------------------------------


def test_submit_creates_order_event_and_outbox(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    response = client.post(URL, json=submission(), headers=keys.h(keys.portal))
    assert response.status_code == 201
    body = response.json()
    assert body["wo_no"].startswith("JK") and len(body["wo_no"]) == 17
    assert len(body["query_code"]) == 8
    assert body["status"] == "received" and body["status_label"] == "已受理"
    assert body["created_at"].endswith("+08:00")
    assert response.headers["Location"] == f"{URL}/{body['wo_no']}"
    assert counts(engine) == (1, 1, 1)
    with engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.topic == "work_order.received" and row.key == body["wo_no"]


@pytest.mark.parametrize("scope", ["staff", "admin"])
def test_staff_and_admin_may_submit(client: TestClient, keys: Keys, scope: str) -> None:
    response = client.post(
        URL, json=submission(channel="hotline"), headers=keys.h(getattr(keys, scope))
    )
    assert response.status_code == 201


def test_unit_key_may_not_submit(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(URL, json=submission(), headers=keys.h(keys.env_unit))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_scope"
    assert counts(engine) == (0, 0, 0)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"X-API-Key": "jk_not-a-real-key"}, 401, "invalid_api_key"),
    ],
)
def test_submit_without_valid_key(
    client: TestClient, engine: Engine, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.post(URL, json=submission(), headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert counts(engine) == (0, 0, 0)


def test_revoked_key_is_refused(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(URL, json=submission(), headers=keys.h(keys.revoked))
    assert response.status_code == 401
    assert counts(engine) == (0, 0, 0)


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown appeal type", {"appeal_type": "gossip"}, "appeal_type"),
    ("unknown channel", {"channel": "pigeon"}, "channel"),
    ("unknown urgency", {"urgency": "whenever"}, "urgency"),
    ("empty title", {"title": ""}, "title"),
    ("title too long", {"title": "长" * 101}, "title"),
    ("content too long", {"content": "长" * 4001}, "content"),
    ("unknown field", {"colour": "red"}, "colour"),
    ("bad phone", {"requester": {"name": "张三", "phone": "12345"}}, "requester.phone"),
    (
        "bad id check digit",
        {"requester": {"phone": "13812341234", "id_number": "130102199003071234"}},
        "requester.id_number",
    ),
    (
        "bad credit code",
        {"requester": {"phone": "13812341234", "credit_code": "91350100M000100Y44"}},
        "requester.credit_code",
    ),
    ("no contact", {"requester": {"name": "张三"}}, "requester"),
    ("bad region code", {"location": {"region_code": "99"}}, "location.region_code"),
    ("latitude alone", {"location": {"latitude": 38.0}}, "location"),
    (
        "latitude out of range",
        {"location": {"latitude": 95, "longitude": 114}},
        "location.latitude",
    ),
    ("external id without source", {"external_id": "X1"}, "body"),
    ("bad attachment url", {"attachments": [{"name": "a", "url": "ftp://x"}]}, "attachments.0.url"),
]


@pytest.mark.parametrize(("case", "overrides", "field"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_name_the_field_and_write_nothing(
    client: TestClient, keys: Keys, engine: Engine, case: str, overrides: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=submission(**overrides), headers=keys.h(keys.portal))
    assert response.status_code == 422, case
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]
    assert counts(engine) == (0, 0, 0)


def test_validation_errors_do_not_echo_personal_data(client: TestClient, keys: Keys) -> None:
    body = submission(requester={"phone": "13812341234", "id_number": "130102199003071234"})
    response = client.post(URL, json=body, headers=keys.h(keys.portal))
    assert response.status_code == 422
    assert "130102199003071234" not in response.text


def test_unknown_category_is_refused(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(
        URL, json=submission(category_code="NO-SUCH"), headers=keys.h(keys.portal)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_category"
    assert counts(engine) == (0, 0, 0)


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"noise_period": "sometimes"}, "attributes.noise_period"),
        ({"no_such_attribute": "x"}, "attributes.no_such_attribute"),
    ],
)
def test_bad_category_attributes(
    client: TestClient, keys: Keys, engine: Engine, attributes: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json=submission(attributes=attributes), headers=keys.h(keys.portal))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_attributes"
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert counts(engine) == (0, 0, 0)


def test_valid_category_attribute_is_kept(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys, attributes={"noise_period": "night"})
    order = client.get(f"{URL}/{receipt['wo_no']}", headers=keys.h(keys.staff)).json()
    assert order["attributes"] == {"noise_period": "night"}


def test_malformed_json_is_400(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(
        URL,
        content=b'{"channel": "app", ',
        headers={**keys.h(keys.portal), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert counts(engine) == (0, 0, 0)


def test_oversized_body_is_413(client: TestClient, keys: Keys, engine: Engine) -> None:
    body = submission(content="x" * 300_000)
    response = client.post(URL, json=body, headers=keys.h(keys.portal))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert counts(engine) == (0, 0, 0)


def test_duplicate_external_id_is_409_with_the_first_order(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    first = submit(client, keys, source_system="hotline_centre", external_id="RX-1")
    response = client.post(
        URL,
        json=submission(source_system="hotline_centre", external_id="RX-1"),
        headers=keys.h(keys.portal),
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"]["wo_no"] == first["wo_no"]
    assert counts(engine) == (1, 1, 1)


# --- idempotency ----------------------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_first_response(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    headers = {**keys.h(keys.portal), "Idempotency-Key": "retry-42"}
    first = client.post(URL, json=submission(), headers=headers)
    second = client.post(URL, json=submission(), headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert counts(engine) == (1, 1, 1)


def test_same_idempotency_key_other_body_is_409(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    headers = {**keys.h(keys.portal), "Idempotency-Key": "retry-43"}
    assert client.post(URL, json=submission(), headers=headers).status_code == 201
    response = client.post(URL, json=submission(title="另一件事"), headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert counts(engine) == (1, 1, 1)


def test_idempotency_keys_are_per_api_key(client: TestClient, keys: Keys, engine: Engine) -> None:
    for key in (keys.portal, keys.staff):
        response = client.post(
            URL, json=submission(), headers={**keys.h(key), "Idempotency-Key": "k"}
        )
        assert response.status_code == 201
    assert counts(engine) == (2, 2, 2)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one() == 2


def test_failed_request_does_not_burn_the_idempotency_key(client: TestClient, keys: Keys) -> None:
    headers = {**keys.h(keys.portal), "Idempotency-Key": "after-fix"}
    bad = client.post(URL, json=submission(category_code="NO-SUCH"), headers=headers)
    assert bad.status_code == 422
    assert client.post(URL, json=submission(), headers=headers).status_code == 201


def test_overlong_idempotency_key_is_400(client: TestClient, keys: Keys, engine: Engine) -> None:
    headers = {**keys.h(keys.portal), "Idempotency-Key": "k" * 201}
    response = client.post(URL, json=submission(), headers=headers)
    assert response.status_code == 400
    assert counts(engine) == (0, 0, 0)


# --- read -----------------------------------------------------------------------------------


def test_requester_reads_own_order_with_query_code_masked(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    response = client.get(f"{URL}/{receipt['wo_no']}", params={"query_code": receipt["query_code"]})
    assert response.status_code == 200
    order = response.json()
    assert order["wo_no"] == receipt["wo_no"]
    assert order["requester"]["phone"] == "138****1234"
    assert order["requester"]["id_number"] == "1301**********1233"
    assert "13812341234" not in response.text
    # query codes are case-insensitive for people reading them off a receipt
    lower = client.get(
        f"{URL}/{receipt['wo_no']}", params={"query_code": receipt["query_code"].lower()}
    )
    assert lower.status_code == 200


def test_wrong_query_code_is_404(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    response = client.get(f"{URL}/{receipt['wo_no']}", params={"query_code": "WRONG123"})
    assert response.status_code == 404
    other = client.get(f"{URL}/JK209901010000001", params={"query_code": receipt["query_code"]})
    assert other.status_code == 404


def test_staff_sees_full_personal_data(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    for key in (keys.staff, keys.admin):
        order = client.get(f"{URL}/{receipt['wo_no']}", headers=keys.h(key)).json()
        assert order["requester"]["phone"] == "13812341234"
        assert order["labels"]["appeal_type"] == "投诉"


def test_portal_key_without_query_code_is_403(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    response = client.get(f"{URL}/{receipt['wo_no']}", headers=keys.h(keys.portal))
    assert response.status_code == 403


def test_read_without_key_or_code_is_401(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    assert client.get(f"{URL}/{receipt['wo_no']}").status_code == 401


def test_unit_key_sees_only_its_assigned_orders(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    mine = submit(client, keys)
    theirs = submit(client, keys)
    assign(engine, mine["wo_no"], "JKQ-HBJ")
    assign(engine, theirs["wo_no"], "JKQ-CGJ")
    assert client.get(f"{URL}/{mine['wo_no']}", headers=keys.h(keys.env_unit)).status_code == 200
    response = client.get(f"{URL}/{theirs['wo_no']}", headers=keys.h(keys.env_unit))
    assert response.status_code == 404
    listed = client.get(URL, headers=keys.h(keys.env_unit)).json()
    assert [o["wo_no"] for o in listed["items"]] == [mine["wo_no"]]
    # a unit key cannot widen its view with ?unit=
    widened = client.get(URL, params={"unit": "JKQ-CGJ"}, headers=keys.h(keys.env_unit)).json()
    assert [o["wo_no"] for o in widened["items"]] == [mine["wo_no"]]


def test_unit_does_not_see_a_confidential_requester(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    receipt = submit(
        client, keys, requester={"name": "李四", "phone": "13912345678", "confidential": True}
    )
    assign(engine, receipt["wo_no"], "JKQ-HBJ")
    response = client.get(f"{URL}/{receipt['wo_no']}", headers=keys.h(keys.env_unit))
    assert response.json()["requester"] == {"name": "保密", "confidential": True}
    assert "13912345678" not in response.text and "李四" not in response.text


def test_unknown_order_is_404_in_the_envelope(client: TestClient, keys: Keys) -> None:
    response = client.get(f"{URL}/JK209901010000001", headers=keys.h(keys.staff))
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "工单不存在 (work order not found)",
            "details": [],
        }
    }


# --- public timeline ------------------------------------------------------------------------


def test_public_timeline_masks_personal_data(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    response = client.get(f"{URL}/{receipt['wo_no']}/timeline")
    assert response.status_code == 200
    timeline = response.json()
    assert timeline["requester"] == "张*"
    assert "138****1234" in timeline["summary"]
    for raw in ("13812341234", "张三", "130102199003071233"):
        assert raw not in response.text
    assert [e["action"] for e in timeline["events"]] == ["received"]
    assert timeline["events"][0]["state_label"] == "已受理"


def test_public_timeline_hides_confidential_requester(client: TestClient, keys: Keys) -> None:
    receipt = submit(
        client, keys, requester={"name": "李四", "phone": "13912345678", "confidential": True}
    )
    timeline = client.get(f"{URL}/{receipt['wo_no']}/timeline").json()
    assert timeline["requester"] == "保密"
    assert timeline["summary"] is None


def test_public_timeline_shows_anonymous(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys, requester={"anonymous": True})
    assert client.get(f"{URL}/{receipt['wo_no']}/timeline").json()["requester"] == "匿名"


def test_public_timeline_omits_private_events(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    from hub.model.codes import EventAction
    from hub.store.work_orders import NewEvent, append_event

    receipt = submit(client, keys)
    with engine.begin() as conn:
        append_event(
            conn,
            receipt["wo_no"],
            NewEvent(EventAction.NOTE, "staff:centre", None, None, public=False, note="内部备注"),
            at=utcnow(),
        )
    timeline = client.get(f"{URL}/{receipt['wo_no']}/timeline")
    assert "内部备注" not in timeline.text
    assert len(timeline.json()["events"]) == 1


def test_timeline_of_unknown_order_is_404(client: TestClient) -> None:
    assert client.get(f"{URL}/JK209901010000001/timeline").status_code == 404


# --- list -----------------------------------------------------------------------------------


def test_list_filters_and_pages(client: TestClient, keys: Keys, engine: Engine) -> None:
    made = [
        submit(client, keys, appeal_type=t)["wo_no"] for t in ["complaint", "help", "complaint"]
    ]
    made.append(submit(client, keys, channel="hotline", category_code="URB-MUCK-SPILL")["wo_no"])
    with engine.begin() as conn:
        conn.execute(
            update(work_orders).where(work_orders.c.wo_no == made[0]).values(status="resolved")
        )
    h = keys.h(keys.staff)
    everything = client.get(URL, headers=h).json()
    assert everything["total"] == 4
    assert [o["wo_no"] for o in everything["items"]] == list(reversed(made))
    assert {
        o["wo_no"]
        for o in client.get(URL, params={"appeal_type": "help"}, headers=h).json()["items"]
    } == {made[1]}
    assert client.get(URL, params={"status": "resolved"}, headers=h).json()["total"] == 1
    assert client.get(URL, params={"status": "received,resolved"}, headers=h).json()["total"] == 4
    assert client.get(URL, params={"channel": "hotline"}, headers=h).json()["total"] == 1
    assert client.get(URL, params={"category": "URB-MUCK-SPILL"}, headers=h).json()["total"] == 1
    assert client.get(URL, params={"region": "130199"}, headers=h).json()["total"] == 4
    assert client.get(URL, params={"region": "130198"}, headers=h).json()["total"] == 0
    assert client.get(URL, params={"q": "噪音"}, headers=h).json()["total"] == 4
    page1 = client.get(URL, params={"limit": 3}, headers=h).json()
    assert len(page1["items"]) == 3 and page1["next_cursor"]
    page2 = client.get(URL, params={"limit": 3, "cursor": page1["next_cursor"]}, headers=h).json()
    assert [o["wo_no"] for o in page2["items"]] == [made[0]] and page2["next_cursor"] is None


def test_list_text_search_treats_wildcards_literally(client: TestClient, keys: Keys) -> None:
    submit(client, keys)
    h = keys.h(keys.staff)
    assert client.get(URL, params={"q": "%"}, headers=h).json()["total"] == 0
    assert client.get(URL, params={"q": "_"}, headers=h).json()["total"] == 0


def test_list_time_window(client: TestClient, keys: Keys) -> None:
    submit(client, keys)
    h = keys.h(keys.staff)
    assert (
        client.get(URL, params={"created_from": "2000-01-01T00:00:00+08:00"}, headers=h).json()[
            "total"
        ]
        == 1
    )
    assert (
        client.get(URL, params={"created_to": "2000-01-01T00:00:00+08:00"}, headers=h).json()[
            "total"
        ]
        == 0
    )
    naive = client.get(URL, params={"created_from": "2000-01-01T00:00:00"}, headers=h)
    assert naive.status_code == 422


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "nonsense"}, 422),
        ({"appeal_type": "gossip"}, 422),
        ({"channel": "pigeon"}, 422),
        ({"limit": 0}, 422),
        ({"limit": 201}, 422),
        ({"cursor": "garbage"}, 400),
        ({"region": "abc"}, 422),
        ({"created_from": "yesterday"}, 422),
    ],
)
def test_list_bad_parameters(
    client: TestClient, keys: Keys, params: dict[str, Any], status: int
) -> None:
    response = client.get(URL, params=params, headers=keys.h(keys.staff))
    assert response.status_code == status
    assert "error" in response.json()


@pytest.mark.parametrize("who", ["portal", None])
def test_list_needs_staff_or_unit(client: TestClient, keys: Keys, who: str | None) -> None:
    headers = keys.h(keys.portal) if who else {}
    assert client.get(URL, headers=headers).status_code == (403 if who else 401)


def test_concurrent_retries_with_one_key_make_one_order(app, keys: Keys, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Ten copies of one request in flight at once (they share a group-commit batch)."""
    headers = {**keys.h(keys.portal), "Idempotency-Key": "burst-1"}

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            return await asyncio.gather(
                *(client.post(URL, json=submission(), headers=headers) for _ in range(10))
            )

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["wo_no"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert counts(engine) == (1, 1, 1)


def test_guessing_query_codes_is_throttled(client: TestClient, keys: Keys) -> None:
    receipt = submit(client, keys)
    path = f"{URL}/{receipt['wo_no']}"
    for attempt in range(10):
        assert client.get(path, params={"query_code": f"WRONG{attempt:03d}"}).status_code == 404
    blocked = client.get(path, params={"query_code": receipt["query_code"]})
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert blocked.json()["error"]["details"]["retry_after_seconds"] > 0
    # staff are not affected, and other orders are not blocked
    assert client.get(path, headers=keys.h(keys.staff)).status_code == 200
    other = submit(client, keys)
    assert (
        client.get(
            f"{URL}/{other['wo_no']}", params={"query_code": other["query_code"]}
        ).status_code
        == 200
    )


def test_hotline_order_takes_the_hotline_default_category(client: TestClient, keys: Keys) -> None:
    body = submission(channel="hotline", source_hotline="12315", category_code=None)
    receipt = client.post(URL, json=body, headers=keys.h(keys.staff))
    assert receipt.status_code == 201, receipt.text
    order = client.get(f"{URL}/{receipt.json()['wo_no']}", headers=keys.h(keys.staff)).json()
    assert order["origin"]["source_hotline"] == "12315"
    assert order["category_code"] == "CONSUMER-COMPLAINT"


def test_unknown_hotline_number_is_refused(client: TestClient, keys: Keys, engine: Engine) -> None:
    body = submission(channel="hotline", source_hotline="110", category_code=None)
    response = client.post(URL, json=body, headers=keys.h(keys.staff))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_hotline"
    assert counts(engine) == (0, 0, 0)
