"""KPI figures against a month worked out by hand (kpi_fixture.py), and the KPI API."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from kpi_fixture import AS_OF, EXPECTED, PERIOD, UNITS, load
from sqlalchemy import Engine

from hub.config import Settings
from hub.services.kpis import (
    MEASURES,
    KpiReport,
    compute_kpis,
    kpi_inputs,
    parse_period,
    ranking,
)


@pytest.fixture
def report(engine: Engine, settings: Settings) -> KpiReport:
    load(engine)
    with engine.connect() as conn:
        return compute_kpis(conn, parse_period(PERIOD), kpi_inputs(settings), now=AS_OF)


def test_periods_parse_to_local_date_ranges() -> None:
    assert (parse_period("2026-11-27").start, parse_period("2026-11-27").end) == (
        date(2026, 11, 27),
        date(2026, 11, 28),
    )
    week = parse_period("2026-W48")
    assert (week.start, week.end, week.label) == (
        date(2026, 11, 23),
        date(2026, 11, 30),
        "2026年第48周",
    )
    quarter = parse_period("2026-Q4")
    assert (quarter.start, quarter.end, quarter.label) == (
        date(2026, 10, 1),
        date(2027, 1, 1),
        "2026年第4季度",
    )
    assert parse_period("2026-12").end == date(2027, 1, 1)
    assert [p.key for p in parse_period("2026-Q4").parts()] == ["2026-10", "2026-11", "2026-12"]
    assert len(parse_period("2026-02").parts()) == 28
    assert parse_period("2026-11").start_utc.isoformat() == "2026-10-31T16:00:00+00:00"
    for bad in ("2026-13", "2026-Q5", "26-11", "2026/11", "2026-02-30", ""):
        with pytest.raises(ValueError, match="考核期无效"):
            parse_period(bad)


def test_every_measure_matches_the_hand_count(report: KpiReport) -> None:
    assert [u.unit_code for u in report.units] == UNITS
    assert report.as_of == AS_OF
    for key, per_unit in EXPECTED.items():
        for unit, expected in per_unit.items():
            kpis = report.district if unit == "*" else report.unit(unit)
            assert kpis is not None, (key, unit)
            measure = kpis.measures[key]
            if isinstance(expected, tuple):
                good, total = expected
                assert (measure.numerator, measure.denominator) == (good, total), (key, unit)
                assert measure.value == round(good / total, 4), (key, unit)
            else:
                assert measure.value == expected, (key, unit)


def test_rates_without_a_denominator_are_empty_not_zero(report: KpiReport) -> None:
    cgj = report.unit("JKQ-CGJ")
    assert cgj is not None
    assert cgj.measures["satisfaction"].value is None
    assert cgj.measures["one_visit_rate"].denominator == 0


def test_rankings_put_the_best_first(report: KpiReport) -> None:
    on_time = [(rank, u.unit_code) for rank, u, _ in ranking(report, "signed_on_time")]
    assert on_time == [(1, "JKQ-HBJ"), (2, "JKQ-CGJ"), (2, "JKQ-ZJJ")]
    overdue = [(rank, u.unit_code) for rank, u, _ in ranking(report, "overdue_days")]
    assert overdue == [(1, "JKQ-CGJ"), (2, "JKQ-HBJ")]  # fewer days is better; none not ranked


def test_one_unit_only(engine: Engine, settings: Settings) -> None:
    load(engine)
    with engine.connect() as conn:
        one = compute_kpis(
            conn, parse_period(PERIOD), kpi_inputs(settings), now=AS_OF, unit="JKQ-CGJ"
        )
    assert [u.unit_code for u in one.units] == ["JKQ-CGJ"]
    assert one.units[0].measures["overdue_days"].value == 2
    assert one.district.measures["overdue_days"].value == 5


def test_kpi_api_for_staff_and_for_a_unit(engine: Engine, client: TestClient, keys: object) -> None:
    load(engine)
    staff = keys.h(keys.staff)  # type: ignore[attr-defined]
    body = client.get("/api/v1/kpis", params={"period": PERIOD}, headers=staff).json()
    assert body["period"] == {
        "key": "2026-10", "kind": "month", "label": "2026年10月",
        "start": "2026-10-01", "end": "2026-11-01",
    }  # fmt: skip
    assert [u["unit_code"] for u in body["units"]] == UNITS
    hbj = next(u for u in body["units"] if u["unit_code"] == "JKQ-HBJ")
    assert hbj["unit_name"] == "生态环境分局"
    assert hbj["measures"]["resolved_on_time"] == {
        "label": "按时办结率 (resolved on time)", "kind": "rate", "value": 0.5,
        "numerator": 2, "denominator": 4,
    }  # fmt: skip
    assert body["district"]["measures"]["overdue_days"]["value"] == 5
    assert set(body["definitions"]) == {m.key for m in MEASURES}

    env = keys.h(keys.env_unit)  # type: ignore[attr-defined]  # unit:JKQ-HBJ
    own = client.get("/api/v1/kpis", params={"period": PERIOD}, headers=env).json()
    assert [u["unit_code"] for u in own["units"]] == ["JKQ-HBJ"]
    other = client.get("/api/v1/kpis", params={"period": PERIOD, "unit": "JKQ-CGJ"}, headers=env)
    assert other.status_code == 403
    assert client.get("/api/v1/kpis", params={"period": PERIOD}).status_code == 401
    bad = client.get("/api/v1/kpis", params={"period": "2026-13"}, headers=staff)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "period"
    unknown = client.get("/api/v1/kpis", params={"period": PERIOD, "unit": "NOPE"}, headers=staff)
    assert unknown.status_code == 404
