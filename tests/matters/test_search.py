"""Chinese search over the matter catalogue: full names, partial words, keywords, filters.

Through GET /api/v1/service-matters (public), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from matter_helpers import CATALOGUE, matter, store
from sqlalchemy import Engine, func, select

from hub.store.db import transaction
from hub.store.migrate import alembic_config, upgrade
from hub.store.schema import service_matter_grams, service_matter_search, service_matters
from hub.store.search import MatterQuery, bigrams, normalise, search_matters, terms_of


@pytest.fixture
def catalogue(engine: Engine) -> None:
    store(engine, CATALOGUE)


def search(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/service-matters", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def names(body: dict[str, Any]) -> list[str]:
    return [item["name"] for item in body["items"]]


def test_words_are_normalised_and_cut_into_bigrams() -> None:
    assert normalise("  ＩＣＰ经营许可 ") == "icp经营许可"
    assert terms_of("营业执照，变更  营业执照") == ["营业执照", "变更"]
    assert bigrams("食品经营") == {"食品", "品经", "经营"}
    assert bigrams("社保 参保") == {"社保", "参保"}  # never across a separator


@pytest.mark.usefixtures("catalogue")
def test_full_name_comes_first_then_names_that_start_with_it(client: TestClient) -> None:
    body = search(client, q="食品经营许可")
    assert names(body)[:2] == ["食品经营许可", "食品经营许可变更"]
    assert body["items"][0]["at_most_one_visit"] is True
    assert body["items"][0]["matter_type_label"] == "行政许可"
    assert body["partial"] is False


@pytest.mark.usefixtures("catalogue")
def test_partial_word_finds_every_name_containing_it_prefixes_first(client: TestClient) -> None:
    body = search(client, q="食品")
    assert body["total"] == 4
    found = names(body)
    assert set(found) == {
        "食品经营许可", "食品经营许可变更", "食品小作坊登记", "小餐饮食品经营备案"
    }  # fmt: skip
    assert found[-1] == "小餐饮食品经营备案"  # contains, not starts with
    assert found.index("食品经营许可") < found.index("食品经营许可变更")  # shorter first


@pytest.mark.usefixtures("catalogue")
def test_keywords_find_matters_whose_names_do_not_say_it(client: TestClient) -> None:
    # 营业执照: one name says it (ranked first), one matter only lists it as a keyword
    assert names(search(client, q="营业执照")) == ["营业执照变更登记", "企业设立登记"]
    assert set(names(search(client, q="社保"))) == {"失业保险金申领", "社会保险登记"}
    assert names(search(client, q="环评")) == ["建设项目环境影响评价文件审批"]
    assert names(search(client, q="开办企业")) == ["企业设立登记"]


@pytest.mark.usefixtures("catalogue")
def test_several_words_must_all_match(client: TestClient) -> None:
    assert names(search(client, q="营业执照 变更")) == ["营业执照变更登记"]
    assert names(search(client, q="食品 备案")) == ["小餐饮食品经营备案"]
    assert names(search(client, q="社保 登记")) == ["社会保险登记"]


@pytest.mark.usefixtures("catalogue")
def test_one_character_and_full_width_queries(client: TestClient) -> None:
    assert set(names(search(client, q="证"))) == {"ICP经营许可证明开具", "食品经营许可变更"}
    assert names(search(client, q="ＩＣＰ")) == ["ICP经营许可证明开具"]  # full width folded
    assert names(search(client, q="icp")) == ["ICP经营许可证明开具"]


@pytest.mark.usefixtures("catalogue")
def test_nearly_right_names_are_offered_as_partial_matches(client: TestClient) -> None:
    body = search(client, q="食品经营许可申请")  # no matter holds every bigram
    assert body["partial"] is True
    assert names(body)[0] == "食品经营许可"
    assert search(client, q="火箭发射许可")["total"] == 0  # too little in common


@pytest.mark.usefixtures("catalogue")
def test_like_wildcards_in_queries_are_literal(client: TestClient) -> None:
    assert search(client, q="%")["total"] == 0
    assert search(client, q="食品_")["total"] == 0
    assert search(client, q="许可' OR '1'='1")["total"] == 0


@pytest.mark.usefixtures("catalogue")
def test_filters_by_unit_type_level_online_and_visits(client: TestClient) -> None:
    assert search(client, unit="JKQ-RSJ")["total"] == 2
    assert names(search(client, q="登记", type="07", unit="JKQ-SPJ")) == [
        "企业设立登记",
        "营业执照变更登记",
    ]
    assert names(search(client, level="5")) == ["食品小作坊登记"]
    assert "食品小作坊登记" not in names(search(client, online="true", limit=100))
    zero = search(client, visits=0)
    assert set(names(zero)) == {"小餐饮食品经营备案", "失业保险金申领"}
    at_most_once = search(client, visits=1, limit=100)
    assert "建设项目环境影响评价文件审批" not in names(at_most_once)
    assert at_most_once["total"] == 9


@pytest.mark.usefixtures("catalogue")
def test_deleted_and_suspended_are_hidden_unless_asked_for(client: TestClient) -> None:
    assert search(client, q="药品")["total"] == 0
    deleted = search(client, q="药品", status="deleted")
    assert names(deleted) == ["药品零售许可"]
    assert deleted["items"][0]["status_label"] == "已取消"
    assert search(client, status="active,suspended", limit=100)["total"] == 11


@pytest.mark.usefixtures("catalogue")
def test_codes_find_their_matter(client: TestClient) -> None:
    code = CATALOGUE[4].implementation_code
    assert names(search(client, q=code)) == ["企业设立登记"]
    assert names(search(client, q=code.lower())) == ["企业设立登记"]
    assert names(search(client, q=CATALOGUE[6].basic_code)) == ["失业保险金申领"]


@pytest.mark.usefixtures("catalogue")
def test_paging_and_bad_parameters(client: TestClient) -> None:
    first = search(client, limit=4)
    second = search(client, limit=4, offset=4)
    assert first["total"] == second["total"] == 10
    assert not set(names(first)) & set(names(second))
    for params in ({"type": "99"}, {"level": "9"}, {"status": "gone"}, {"limit": 0}):
        response = client.get("/api/v1/service-matters", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_error"


def test_a_change_moves_the_matter_in_the_index(engine: Engine, client: TestClient) -> None:
    store(engine, CATALOGUE)
    renamed = matter("000001", "食品经营许可（含网络餐饮）", keywords=["外卖"], visits_required=0)
    counts = store(engine, [renamed])
    assert counts.changed == 1
    assert names(search(client, q="外卖")) == ["食品经营许可（含网络餐饮）"]
    assert search(client, q="饭店")["total"] == 0  # the old keyword is gone
    assert search(client, q="食品经营许可", visits=0)["items"][0]["version_no"] == 2
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(service_matter_search)).scalar_one()
        grams = conn.execute(
            select(func.count())
            .select_from(service_matter_grams)
            .where(service_matter_grams.c.implementation_code == renamed.implementation_code)
        ).scalar_one()
    assert rows == len(CATALOGUE)
    assert grams == len(bigrams(normalise(renamed.name)) | {"外卖"})


def test_upgrading_to_0007_indexes_matters_already_stored(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0006")
    food = CATALOGUE[0]
    with transaction(engine) as conn:
        conn.execute(
            service_matters.insert().values(
                implementation_code=food.implementation_code,
                basic_code=food.basic_code,
                name=food.name,
                matter_type="01",
                use_level="4",
                unit_code="JKQ-SJJ",
                unit_name=food.unit_name,
                status="active",
                version_no=1,
                content_hash="x",
                data=food.model_dump(mode="json"),
                source="test",
                created_at=food.changed_at,
                updated_at=food.changed_at,
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        hits = search_matters(conn, MatterQuery(text="餐饮"))
    assert [h["data"]["name"] for h in hits.items] == ["食品经营许可"]
