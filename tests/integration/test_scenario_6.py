"""Scenario 6 end to end: at most one visit (最多跑一次).

An enterprise applies through the Hebei network for a food business licence; the matter
promises 10 working days against a legal 20 and at most one on-site visit. The case is
synced with its acceptance and result; a second visit is flagged. Later the department
shortens the promise to 7 days: the sync records a new version of the matter, and the
case already accepted keeps the old limit while a new one gets the new.

Through the real interfaces: the sandbox Hebei network (SOAP), the shipped connector and
mappings pulled by the sync service, the store, and the hub's HTTP API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flow_helpers import Hub, running_hub
from integration_helpers import sandbox_for

from hub.model.base import LOCAL_ZONE
from hub.model.service_matter import TimeLimit
from hub.sandbox import Sandbox
from hub.sandbox.hebei_seed import FOOD_LICENCE_TASK_CODE
from hub.services.cases import deadline, default_calendar
from hub.services.matters_sync import sync_stream
from hub.store.db import engine_for

SEEDED = 40
ENTERPRISE = "石家庄某某食品有限公司"
OLD_CASE, NEW_CASE = "SP2026112300001", "SP2026112700009"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "hebei", seed_matters=SEEDED) as running:
        yield running


@pytest.fixture
def hub(sandbox: Sandbox, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    sandbox["hebei"].reset()
    sandbox["hebei"].seed(SEEDED)  # type: ignore[attr-defined]
    with running_hub(sandbox, database_url, tmp_path, bus=False) as running:
        yield running


def sync(hub: Hub, stream: str) -> Any:
    return sync_stream(hub.settings, engine_for(hub.settings.database_url), stream=stream)


def get(hub: Hub, path: str, key: str | None = None, **params: Any) -> Any:
    headers = {"X-API-Key": key} if key else {}
    response = hub.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def staff_key(hub: Hub) -> str:
    from hub.store import api_keys

    with engine_for(hub.settings.database_url).begin() as conn:
        return api_keys.create_key(conn, "assessment", "staff")[1]


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=LOCAL_ZONE)


def test_at_most_one_visit_and_the_promise_kept_by_the_version_in_force(hub: Hub) -> None:
    key = staff_key(hub)
    calendar = default_calendar()

    # 1. The district's matter list arrives from the network and is searchable.
    matters = sync(hub, "matters")
    assert (matters.inserted, matters.dead_letters) == (SEEDED, 0)
    found = get(hub, "/api/v1/service-matters", q="食品经营许可")["items"][0]
    assert found["implementation_code"] == FOOD_LICENCE_TASK_CODE
    assert (found["legal_limit"]["value"], found["promised_limit"]["value"]) == (20, 10)
    assert found["visits_required"] == 1 and found["at_most_one_visit"] is True
    assert found["unit_code"] == "JKQ-SJJ"

    # 2. The enterprise applies; the network accepts on Monday 23 November.
    accepted = hub.control(
        "hebei",
        "POST",
        "/cases",
        json={
            "task_code": FOOD_LICENCE_TASK_CODE,
            "project_no": OLD_CASE,
            "applicant": ENTERPRISE,
            "accept_date": "2026-11-23 09:00:00",
            "visits": 1,
        },
    )
    assert accepted["promise_date"] == "2026-12-07 09:00:00"
    assert sync(hub, "cases").inserted == 1
    case = get(hub, f"/api/v1/cases/{OLD_CASE}", key)
    assert case["judged_by"]["matter_version_no"] == 1
    assert case["judged_by"]["promised_days"] == 10
    old_due = datetime.fromisoformat(case["judged_by"]["due_at"])
    assert old_due == calendar.day_end(datetime(2026, 12, 7).date())  # 10 working days
    assert case["compliance"] == {"at_most_one_visit": True, "visits_ok": True, "on_time": None}
    assert case["applicant"]["name"] == "石" + "*" * (len(ENTERPRISE) - 1)

    # 3. The applicant has to come back: a second visit is flagged.
    time.sleep(1.05)  # a later cd_time at the source (seconds)
    hub.control("hebei", "PATCH", f"/cases/{OLD_CASE}", json={"visits": 2})
    assert sync(hub, "cases").changed == 1
    flagged = get(hub, "/api/v1/cases", key, flag="extra_visit")
    assert [c["case_no"] for c in flagged["items"]] == [OLD_CASE]
    assert flagged["items"][0]["compliance"]["at_most_one_visit"] is False

    # 4. The department shortens its promise to 7 working days: a new version.
    time.sleep(1.05)
    changed = hub.control(
        "hebei", "PATCH", f"/matters/{FOOD_LICENCE_TASK_CODE}", json={"promise_day": 7}
    )
    assert sync(hub, "matters").changed == 1
    detail = get(hub, f"/api/v1/service-matters/{FOOD_LICENCE_TASK_CODE}")
    assert detail["version_no"] == 2 and detail["promised_limit"]["value"] == 7
    first, second = detail["versions"]
    assert datetime.fromisoformat(first["valid_to"]) == local(changed["cd_time"])
    assert second["changes"][0]["field"] == "promised_limit"
    assert (second["changes"][0]["before"]["value"], second["changes"][0]["after"]["value"]) == (
        10,
        7,
    )

    # 5. A new application, accepted after the change, gets 7 days; the old case keeps 10.
    time.sleep(1.05)
    hub.control(
        "hebei",
        "POST",
        "/cases",
        json={"task_code": FOOD_LICENCE_TASK_CODE, "project_no": NEW_CASE, "visits": 0},
    )
    done = {"result_type": "1", "result_date": "2026-12-04 16:00:00", "satisfaction": "1"}
    hub.control("hebei", "PATCH", f"/cases/{OLD_CASE}", json=done)
    synced = sync(hub, "cases")
    assert (synced.inserted, synced.changed) == (1, 1)
    new = get(hub, f"/api/v1/cases/{NEW_CASE}", key)
    assert (new["judged_by"]["matter_version_no"], new["judged_by"]["promised_days"]) == (2, 7)
    new_accepted = datetime.fromisoformat(new["accepted_at"])
    expected_due, _ = deadline(calendar, new_accepted, TimeLimit(value=7))
    assert datetime.fromisoformat(new["judged_by"]["due_at"]) == expected_due
    old = get(hub, f"/api/v1/cases/{OLD_CASE}", key)
    assert (old["judged_by"]["matter_version_no"], old["judged_by"]["promised_days"]) == (1, 10)
    assert datetime.fromisoformat(old["judged_by"]["due_at"]) == old_due
    assert old["result"] == "准予" and old["evaluation"]["satisfaction"] == "1"
    assert old["compliance"] == {"at_most_one_visit": False, "visits_ok": False, "on_time": True}

    # 6. December's KPIs for the unit: finished within its promise, but not in one visit.
    kpis = get(hub, "/api/v1/kpis", key, period="2026-12", unit="JKQ-SJJ")
    measures = kpis["units"][0]["measures"]
    assert measures["promise_compliance"]["value"] == 1.0
    assert measures["one_visit_rate"]["value"] == 0.0
