"""What each department must fix in its matter list, and matters listed as Open311 services."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from lxml import etree
from matter_helpers import CATALOGUE, NOW, matter, store
from sqlalchemy import Engine

from hub.services.matters_sync import check_matter, completeness


def problems(data: dict[str, object], changed: datetime | None = NOW) -> list[str]:
    return [p.code for p in check_matter(data, changed, NOW, stale_days=365)]


def test_check_matter_finds_missing_contradictory_and_stale_entries() -> None:
    good = matter("000001", "食品经营许可").model_dump(mode="json")
    assert problems(good) == []
    assert problems({**good, "promised_limit": None, "unit_code": None}) == ["missing", "missing"]
    assert problems({**good, "online_url": None}) == ["online_url_missing"]
    late = {**good, "promised_limit": {"value": 30, "unit": "working_day"}}
    assert problems(late) == ["promise_exceeds_legal"]
    assert problems(good, datetime(2025, 11, 1, tzinfo=UTC)) == ["stale"]
    assert problems(good, datetime(2025, 12, 1, tzinfo=UTC)) == []


def test_fix_lists_per_department_worst_first(engine: Engine) -> None:
    store(
        engine,
        [
            *CATALOGUE,
            matter("000020", "计量器具检定", promised_limit=None),
            matter("000021", "广告发布登记", changed_at=datetime(2024, 1, 1, tzinfo=UTC)),
        ],
    )
    with engine.connect() as conn:
        lists = completeness(conn, now=NOW, stale_days=365)
        hbj_only = completeness(conn, now=NOW, unit_code="JKQ-HBJ")
    first = lists[0]
    assert first.unit_code == "JKQ-SJJ"
    assert (first.active, first.complete, first.rate) == (7, 5, round(5 / 7, 4))
    assert {m.name: [p.code for p in m.problems] for m in first.matters} == {
        "计量器具检定": ["missing"],
        "广告发布登记": ["stale"],
    }
    assert [e.unit_code for e in hbj_only] == ["JKQ-HBJ"] and hbj_only[0].matters == []


def test_fix_list_api_is_for_staff_and_scoped_for_units(
    engine: Engine, client: TestClient, keys: object
) -> None:
    hbj = matter(
        "000030", "排污许可", unit_code="JKQ-HBJ", unit_name="经开区生态环境分局", legal_limit=None
    )
    store(engine, [*CATALOGUE, hbj])
    staff = keys.h(keys.staff)  # type: ignore[attr-defined]
    body = client.get(
        "/api/v1/service-matters/completeness", params={"stale_days": 30}, headers=staff
    ).json()
    assert body["stale_days"] == 30
    units = {e["unit_code"]: e for e in body["items"]}
    assert units["JKQ-HBJ"]["unit_name"] == "生态环境分局"  # the hub's name for the unit
    assert units["JKQ-HBJ"]["to_fix"][0]["problems"] == [
        {"code": "missing", "field": "legal_limit",
         "message": "缺少必填项 (required field missing): 法定办结时限 (legal time limit)"},
    ]  # fmt: skip
    env = keys.h(keys.env_unit)  # type: ignore[attr-defined]
    mine = client.get(
        "/api/v1/service-matters/completeness", params={"unit": "JKQ-SJJ"}, headers=env
    ).json()
    assert [e["unit_code"] for e in mine["items"]] == ["JKQ-HBJ"]  # a unit sees its own list
    assert client.get("/api/v1/service-matters/completeness").status_code == 401
    portal = keys.h(keys.portal)  # type: ignore[attr-defined]
    assert client.get("/api/v1/service-matters/completeness", headers=portal).status_code == 403


def test_open311_lists_matters_as_services_and_keeps_its_categories(
    engine: Engine, client: TestClient
) -> None:
    store(engine, CATALOGUE)
    categories = client.get("/open311/v2/services.json").json()
    assert categories and all(not s["service_code"].startswith("1113") for s in categories)
    found = client.get("/open311/v2/services.json", params={"matters": "true", "q": "食品经营"})
    services = found.json()
    assert [s["service_name"] for s in services] == [
        "食品经营许可",
        "食品经营许可变更",
        "小餐饮食品经营备案",
    ]
    food = services[0]
    assert food["service_code"] == CATALOGUE[0].implementation_code
    assert food["type"] == "batch" and food["metadata"] is False
    assert food["group"] == "经开区市场监督管理局" and "餐饮" in food["keywords"]
    assert "承诺 10 个工作日" in food["description"] and "仅供查询" in food["description"]
    xml = client.get("/open311/v2/services.xml", params={"matters": "true", "q": "社保"})
    root = etree.fromstring(xml.content)
    assert sorted(root.xpath("//service/service_name/text()")) == ["失业保险金申领", "社会保险登记"]
