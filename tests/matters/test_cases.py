"""Cases (办件) judged against the matter version in force at acceptance; the case sink,
late matters, and the staff API with applicants masked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from matter_helpers import NOW, case, matter, store, store_cases
from sqlalchemy import Engine

from hub.config import REPO_ROOT
from hub.model.base import LOCAL_ZONE
from hub.services.cases import calendar_from
from hub.services.catalogue import read_catalogue
from hub.services.sinks import SINKS, SinkContext
from hub.store import cases as case_store
from hub.store.db import transaction

CALENDAR = calendar_from(REPO_ROOT / "policies" / "calendars")
FOOD = matter("000001", "食品经营许可").implementation_code
V1_FROM = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
V2_FROM = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 local on 26 November


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_ZONE)  # type: ignore[misc]


def end_of(day: date) -> datetime:
    return CALENDAR.day_end(day)


@pytest.fixture
def versions(engine: Engine) -> None:
    """食品经营许可: promised 10 working days, then 7 from 26 November; at most one visit."""
    store(engine, [matter("000001", "食品经营许可", changed_at=V1_FROM)])
    store(
        engine,
        [matter("000001", "食品经营许可", changed_at=V2_FROM, promised_limit={"value": 7})],
    )


def row(engine: Engine, number: str) -> dict[str, object]:
    with engine.connect() as conn:
        found = case_store.get_case(conn, number)
    assert found is not None
    return found


@pytest.mark.usefixtures("versions")
def test_each_case_keeps_the_limit_of_the_version_it_was_accepted_under(engine: Engine) -> None:
    store_cases(
        engine,
        [
            case("C-OLD", FOOD, local(2026, 11, 23, 9)),  # Monday, before the change
            case("C-NEW", FOOD, local(2026, 11, 30, 9)),  # Monday, after it
        ],
    )
    old, new = row(engine, "C-OLD"), row(engine, "C-NEW")
    assert (old["matter_version_no"], old["promised_days"]) == (1, 10)
    assert old["due_at"] == end_of(date(2026, 12, 7))  # 10 working days: 7 December
    assert (new["matter_version_no"], new["promised_days"]) == (2, 7)
    assert new["due_at"] == end_of(date(2026, 12, 9))  # 7 working days: 9 December
    assert old["unit_code"] == new["unit_code"] == "JKQ-SJJ"
    assert old["visits_ok"] is True and old["on_time"] is None and old["flags"] == []


@pytest.mark.usefixtures("versions")
def test_a_second_visit_and_a_late_finish_are_flagged(engine: Engine) -> None:
    accepted = local(2026, 11, 23, 9)
    store_cases(
        engine,
        [
            case("C-1", FOOD, accepted, visits=1, finished_at=local(2026, 12, 7, 16)),
            case("C-2", FOOD, accepted, visits=2, finished_at=local(2026, 12, 8, 10)),
        ],
    )
    good, bad = row(engine, "C-1"), row(engine, "C-2")
    assert (good["on_time"], good["visits_ok"], good["flags"]) == (True, True, [])
    assert (bad["on_time"], bad["visits_ok"]) == (False, False)
    assert bad["flags"] == ["late", "extra_visit"]


@pytest.mark.usefixtures("versions")
def test_a_change_at_the_source_judges_again_by_the_same_version(engine: Engine) -> None:
    store_cases(engine, [case("C-1", FOOD, local(2026, 11, 23, 9))])
    store_cases(engine, [case("C-1", FOOD, local(2026, 11, 23, 9), visits=2)])
    again = row(engine, "C-1")
    assert (again["matter_version_no"], again["visits"], again["visits_ok"]) == (1, 2, False)
    with transaction(engine) as conn:  # the same record again writes nothing
        counts = case_store.upsert_cases(
            conn,
            [case("C-1", FOOD, local(2026, 11, 23, 9), visits=2)],
            lambda c, h: pytest.fail("an unchanged case is not judged"),  # type: ignore[arg-type,return-value]
            source="test",
            now=NOW,
        )
    assert counts.unchanged == 1


def test_immediate_cases_and_years_without_a_calendar(engine: Engine) -> None:
    store(engine, [matter("000001", "食品经营许可", changed_at=datetime(2024, 1, 1, tzinfo=UTC))])
    store_cases(
        engine,
        [
            case("C-NOW", FOOD, local(2026, 11, 27, 10), case_type="1"),  # 即办件
            case("C-2025", FOOD, local(2025, 3, 3, 9)),  # no 2025 calendar shipped
        ],
    )
    assert row(engine, "C-NOW")["due_at"] == end_of(date(2026, 11, 27))
    old = row(engine, "C-2025")
    assert old["due_at"] == local(2025, 3, 17, 17, 30)  # weekends only: 10 weekdays
    assert old["flags"] == ["calendar_gap"]


def test_cases_before_their_matter_wait_and_are_judged_when_it_arrives(engine: Engine) -> None:
    store_cases(engine, [case("C-EARLY", FOOD, local(2026, 11, 23, 9), visits=2)])
    early = row(engine, "C-EARLY")
    assert early["matter_version_no"] is None and early["flags"] == ["matter_unknown"]
    with transaction(engine) as conn:  # the matter sink, as a sync would call it
        context = SinkContext("hebei_network", read_catalogue(engine), NOW, calendar=CALENDAR)
        SINKS["service_matter"](
            conn, [matter("000001", "食品经营许可", changed_at=V2_FROM)], context
        )
    judged = row(engine, "C-EARLY")
    # accepted before the only version the hub knows: judged by it, and said so
    assert judged["matter_version_no"] == 1 and judged["visits_ok"] is False
    assert judged["flags"] == ["earliest_version", "extra_visit"]


@pytest.mark.usefixtures("versions")
def test_case_api_masks_the_applicant_and_filters_by_flag(
    engine: Engine, client: TestClient, keys: object
) -> None:
    accepted = local(2026, 11, 2, 9)
    store_cases(
        engine,
        [
            case("C-1", FOOD, accepted, finished_at=local(2026, 11, 10, 9), result="准予",
                 evaluation={"channel": "pc", "satisfaction": "1"}),
            case("C-2", FOOD, accepted, visits=3),
        ],
    )  # fmt: skip
    staff = keys.h(keys.staff)  # type: ignore[attr-defined]
    listed = client.get("/api/v1/cases", headers=staff).json()
    assert listed["total"] == 2
    flagged = client.get("/api/v1/cases", params={"flag": "extra_visit"}, headers=staff).json()
    assert [c["case_no"] for c in flagged["items"]] == ["C-2"]
    two = flagged["items"][0]
    assert two["applicant"]["name"] == "张*" and two["applicant"]["phone"] == "138****1234"
    assert [f["code"] for f in two["flags"]] == ["extra_visit", "overdue"]  # open, past due
    assert two["compliance"] == {"at_most_one_visit": False, "visits_ok": False, "on_time": None}
    one = client.get("/api/v1/cases/C-1", headers=staff).json()
    assert one["judged_by"]["promised_days"] == 10 and one["compliance"]["on_time"] is True
    assert [s["name"] for s in one["steps"]] == [
        "申请 (applied)", "受理 (accepted)", "办结：准予 (finished)"
    ]  # fmt: skip
    assert one["evaluation"]["label"] == "非常满意"
    assert "13812341234" not in str(one) and "张三" not in str(one)
    # a unit sees its own cases only; anonymous callers none
    env = keys.h(keys.env_unit)  # type: ignore[attr-defined]
    assert client.get("/api/v1/cases", headers=env).json()["total"] == 0
    assert client.get("/api/v1/cases/C-1", headers=env).status_code == 404
    assert client.get("/api/v1/cases").status_code == 401
    naive = client.get("/api/v1/cases", params={"accepted_from": "2026-11-01T00:00"}, headers=staff)
    assert naive.status_code == 422


def test_deadline_units_other_than_working_days() -> None:
    from hub.model.service_matter import TimeLimit
    from hub.services.cases import deadline

    start = local(2026, 1, 31, 9)
    assert deadline(CALENDAR, start, TimeLimit(value=3, unit="natural_day"))[
        0
    ] == start + timedelta(3)
    assert deadline(CALENDAR, start, TimeLimit(value=5, unit="hour"))[0] == start + timedelta(
        hours=5
    )
    assert deadline(CALENDAR, start, TimeLimit(value=1, unit="month"))[0] == local(2026, 2, 28, 9)
