"""Open311 GeoReport v2 facade: every endpoint in JSON and XML, errors, filters and tokens."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Keys
from fastapi import APIRouter, FastAPI, Response
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import Engine, func, select, update

from hub.api.app import create_app
from hub.api.open311 import present
from hub.api.open311.forms import appeal_type_for
from hub.api.open311.routing import Open311Route
from hub.config import Settings
from hub.model.base import utcnow
from hub.model.codes import AppealType
from hub.model.org_unit import Category
from hub.services.catalogue import Catalogue
from hub.store.schema import assignments, events, outbox, work_orders

BASE = "/open311/v2"
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True)
PHONE = "13812341234"


# --- helpers -------------------------------------------------------------------------


def xml(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == XML_TYPE
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return etree.fromstring(response.content, SAFE_XML)


def texts(root: Any, path: str) -> list[str | None]:
    return [e.text for e in root.findall(path)]


def form(keys: Keys, **overrides: Any) -> dict[str, Any]:
    """A valid POST requests body; an override of None drops the argument."""
    data: dict[str, Any] = {
        "api_key": keys.portal,
        "service_code": "ENV-NOISE",
        "lat": "38.0426",
        "long": "114.5149",
        "address_string": "经开区某路与某街交叉口",
        "description": f"工地夜间施工噪声很大，联系电话{PHONE}",
        "first_name": "三",
        "last_name": "张",
        "phone": PHONE,
        "email": "zhangsan@example.com",
        "media_url": "https://img.example.com/p/noise.jpg",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client: TestClient, keys: Keys, fmt: str = "json", **overrides: Any) -> httpx.Response:
    return client.post(f"{BASE}/requests.{fmt}", data=form(keys, **overrides))


def submit(client: TestClient, keys: Keys, **overrides: Any) -> str:
    response = post(client, keys, **overrides)
    assert response.status_code == 200, response.text
    wo_no: str = response.json()[0]["service_request_id"]
    return wo_no


def staff_view(client: TestClient, keys: Keys, wo_no: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/work-orders/{wo_no}", headers=keys.h(keys.staff))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (work_orders, events, outbox)
        )


def set_columns(engine: Engine, wo_no: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(work_orders).where(work_orders.c.wo_no == wo_no).values(**values))


def errors_of(response: httpx.Response, status: int) -> list[str]:
    """Check the Open311 error list shape and return the descriptions."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert isinstance(body, list) and body
    assert all(set(e) == {"code", "description"} and e["code"] == status for e in body)
    return [e["description"] for e in body]


def listed(client: TestClient, **params: Any) -> list[str]:
    response = client.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def catalogue_of(client: TestClient) -> Catalogue:
    catalogue: Catalogue = client.app.state.hub.catalogue.get()  # type: ignore[attr-defined]
    return catalogue


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- discovery -----------------------------------------------------------------------


def test_discovery_json(client: TestClient, settings: Settings) -> None:
    response = client.get(f"{BASE}/discovery.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert datetime.fromisoformat(body["changeset"]).tzinfo is not None
    assert "响应中心" in body["contact"] and body["key_service"]
    (endpoint,) = body["endpoints"]
    assert endpoint == {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": settings.public_base_url + "/open311/v2",
        "changeset": body["changeset"],
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }


def test_discovery_xml(client: TestClient) -> None:
    root = xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert root.findtext("changeset").endswith("+08:00")
    assert texts(root, "endpoints/endpoint/type") == ["production"]
    assert texts(root, "endpoints/endpoint/formats/format") == ["text/xml", "application/json"]
    assert root.findtext("endpoints/endpoint/url").endswith("/open311/v2")


# --- services ------------------------------------------------------------------------


def test_services_json(client: TestClient) -> None:
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    services = {s["service_code"]: s for s in response.json()}
    assert set(services) == set(catalogue_of(client).categories)
    assert services["ENV-NOISE"] == {
        "service_code": "ENV-NOISE",
        "service_name": "噪声污染",
        "description": "夜间施工、商业经营、工业企业等噪声扰民",
        "metadata": True,
        "type": "realtime",
        "keywords": "噪音,噪声,施工,夜间,扰民,机器轰鸣,广场舞",
        "group": "生态环境",
    }
    assert services["PRAISE"]["metadata"] is False


def test_services_xml(client: TestClient) -> None:
    root = xml(client.get(f"{BASE}/services.xml?jurisdiction_id=jingkai.gov.cn"))
    assert root.tag == "services"
    assert len(root.findall("service")) == len(catalogue_of(client).categories)
    noise = next(s for s in root.findall("service") if s.findtext("service_code") == "ENV-NOISE")
    assert noise.findtext("metadata") == "true"
    assert noise.findtext("type") == "realtime"
    assert noise.findtext("group") == "生态环境"
    praise = next(s for s in root.findall("service") if s.findtext("service_code") == "PRAISE")
    assert praise.findtext("metadata") == "false"


def test_service_group_falls_back_to_section_name(client: TestClient) -> None:
    category = Category.model_validate(
        {"code": "NO-GROUP", "name": "无分组", "section": "urban", "keywords": ["a", "b"]}
    )
    entry = present.service(category, catalogue_of(client))
    assert entry["group"] == "城市管理"
    assert entry["keywords"] == "a,b"
    assert entry["metadata"] is False


def test_service_definition_json(client: TestClient) -> None:
    response = client.get(f"{BASE}/services/ENV-NOISE.json")
    assert response.status_code == 200
    body = response.json()
    assert body["service_code"] == "ENV-NOISE"
    period, source = body["attributes"]
    assert period == {
        "variable": True,
        "code": "noise_period",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "请选择时段",
        "order": 1,
        "description": "噪声发生时段",
        "values": [{"key": "night", "name": "夜间(22:00-6:00)"}, {"key": "day", "name": "白天"}],
    }
    assert source["datatype"] == "multivaluelist" and source["order"] == 2
    praise = client.get(f"{BASE}/services/PRAISE.json").json()
    assert praise == {"service_code": "PRAISE", "attributes": []}


def test_service_definition_xml(client: TestClient) -> None:
    root = xml(client.get(f"{BASE}/services/LAMP-VILLAGE.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "LAMP-VILLAGE"
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["lamp_count", "location_detail"]
    assert attributes[0].findtext("required") == "true"
    assert attributes[0].findtext("variable") == "true"
    assert attributes[0].find("values") is not None and len(attributes[0].find("values")) == 0
    noise = xml(client.get(f"{BASE}/services/ENV-NOISE.xml"))
    assert texts(noise, "attributes/attribute/values/value/key")[:2] == ["night", "day"]
    assert texts(noise, "attributes/attribute/values/value/name")[1] == "白天"


def test_unknown_service_definition_is_404(client: TestClient) -> None:
    assert "service_code" in errors_of(client.get(f"{BASE}/services/NOPE.json"), 404)[0]
    response = client.get(f"{BASE}/services/NOPE.xml")
    assert response.status_code == 404
    assert texts(xml(response), "error/code") == ["404"]


# --- formats, unknown paths, methods -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "services.yaml",
        "discovery.html",
        "services/ENV-NOISE.csv",
        "requests.XML",
        "tokens/abc.txt",
        "services",
        "services/ENV-NOISE",
        "nothing.json",
    ],
)
def test_unknown_format_or_path_is_404_in_json(client: TestClient, path: str) -> None:
    errors_of(client.get(f"{BASE}/{path}"), 404)


def test_paths_outside_v2_are_open311_404(client: TestClient) -> None:
    errors_of(client.get("/open311/v3/services.json"), 404)


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete(f"{BASE}/requests.json")
    errors_of(response, 405)
    assert response.headers["allow"] == "GET, POST"


def test_fastapi_validation_on_open311_routes_becomes_an_error_list() -> None:
    router = APIRouter(route_class=Open311Route)

    @router.get("/probe.{fmt}")
    def probe(fmt: str, n: int) -> Response:
        return Response(str(n))

    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as probe_client:
        (description,) = errors_of(probe_client.get("/probe.json?n=abc"), 400)
        assert description.startswith("n: ")
        root = xml(probe_client.get("/probe.xml"))
        assert texts(root, "error/code") == ["400"]
        assert root.findtext("error/description").startswith("n: ")


# --- POST requests -------------------------------------------------------------------


def test_post_json_creates_an_open311_order(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = post(client, keys, account_id="acct-9", device_id="dev-1", jurisdiction_id="x")
    # 200 rather than 201: GeoReport v2 documents no other success status.
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    (receipt,) = response.json()
    assert set(receipt) == {"service_request_id", "token", "service_notice", "account_id"}
    assert receipt["account_id"] == "acct-9"
    assert "查询码" in receipt["service_notice"]
    assert counts(engine) == (1, 1, 1)

    order = staff_view(client, keys, receipt["service_request_id"])
    assert order["origin"]["channel"] == "open311"
    assert order["appeal_type"] == "complaint"
    assert order["category_code"] == "ENV-NOISE"
    assert order["title"] == f"噪声污染：工地夜间施工噪声很大，联系电话{PHONE}"
    assert order["content"] == f"工地夜间施工噪声很大，联系电话{PHONE}"
    assert order["requester"]["name"] == "张三"
    assert order["requester"]["phone"] == PHONE
    assert order["requester"]["email"] == "zhangsan@example.com"
    assert order["requester"]["anonymous"] is False
    assert order["location"]["latitude"] == pytest.approx(38.0426)
    assert order["location"]["longitude"] == pytest.approx(114.5149)
    assert order["location"]["address"] == "经开区某路与某街交叉口"
    assert order["attachments"][0]["url"] == "https://img.example.com/p/noise.jpg"
    assert order["attachments"][0]["name"] == "noise.jpg"
    with engine.connect() as conn:
        stored = conn.execute(select(work_orders.c.open311_token)).scalar_one()
    assert stored == receipt["token"]


def test_post_xml(client: TestClient, keys: Keys) -> None:
    root = xml(post(client, keys, "xml"))
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert request.findtext("service_request_id").startswith("JK")
    assert request.findtext("token")
    assert request.findtext("service_notice")
    assert request.find("account_id").text is None  # None → empty element


def test_post_multipart(client: TestClient, keys: Keys) -> None:
    fields = [(k, (None, v)) for k, v in form(keys, service_code="PRAISE").items()]
    response = client.post(f"{BASE}/requests.json", files=fields)
    assert response.status_code == 200, response.text
    assert staff_view(client, keys, response.json()[0]["service_request_id"])["appeal_type"] == (
        "praise"
    )


def test_post_file_upload_is_refused(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        data=form(keys),
        files={"photo": ("a.jpg", b"\xff\xd8", "image/jpeg")},
    )
    assert "photo" in errors_of(response, 400)[0]
    assert counts(engine) == (0, 0, 0)


@pytest.mark.parametrize("name", ["attribute[noise_source]", "attribute[noise_source][]"])
def test_post_multivaluelist_attribute(client: TestClient, keys: Keys, name: str) -> None:
    wo_no = submit(
        client, keys, **{name: ["construction", "industry"], "attribute[noise_period]": "night"}
    )
    assert staff_view(client, keys, wo_no)["attributes"] == {
        "noise_source": ["construction", "industry"],
        "noise_period": "night",
    }


def test_post_number_attribute_and_address_id(client: TestClient, keys: Keys) -> None:
    wo_no = submit(
        client,
        keys,
        service_code="LAMP-VILLAGE",
        lat=None,
        long=None,
        address_string=None,
        address_id="ADDR-1301-0042",
        **{"attribute[lamp_count]": "3", "attribute[location_detail]": "村东头东街"},
    )
    order = staff_view(client, keys, wo_no)
    assert order["attributes"] == {"lamp_count": 3, "location_detail": "村东头东街"}
    assert order["location"]["address_id"] == "ADDR-1301-0042"
    assert client.get(f"{BASE}/requests/{wo_no}.json").json()[0]["address_id"] == "ADDR-1301-0042"
    assert order["location"]["latitude"] is None


def test_post_without_contact_is_anonymous(client: TestClient, keys: Keys) -> None:
    wo_no = submit(
        client, keys, phone=None, email=None, first_name=None, last_name=None, description=None
    )
    order = staff_view(client, keys, wo_no)
    assert order["requester"]["anonymous"] is True
    assert order["requester"].get("name") is None
    assert order["title"] == order["content"] == "噪声污染"


@pytest.mark.parametrize(
    ("code", "appeal_type"),
    [
        ("ENV-NOISE", AppealType.COMPLAINT),
        ("LAMP-VILLAGE", AppealType.COMPLAINT),
        ("PRAISE", AppealType.PRAISE),
        ("SUGGESTION", AppealType.SUGGESTION),
        ("SOCIAL-SECURITY", AppealType.HELP),
        ("OTHER", AppealType.HELP),
    ],
)
def test_appeal_type_rule(client: TestClient, code: str, appeal_type: AppealType) -> None:
    assert appeal_type_for(catalogue_of(client).categories[code]) is appeal_type


@pytest.mark.parametrize("key", ["revoked", "env_unit", "unknown", "missing"])
def test_post_bad_key_is_403(client: TestClient, keys: Keys, engine: Engine, key: str) -> None:
    clear = {"unknown": "jk_not-a-key", "missing": None}.get(key) or getattr(keys, key, None)
    (description,) = errors_of(post(client, keys, api_key=clear), 403)
    assert "api_key" in description
    assert counts(engine) == (0, 0, 0)


def test_post_bad_key_in_xml(client: TestClient, keys: Keys) -> None:
    response = post(client, keys, "xml", api_key="jk_nope")
    assert response.status_code == 403
    root = xml(response)
    assert root.tag == "errors"
    assert texts(root, "error/code") == ["403"]
    assert "api_key" in root.findtext("error/description")


LONG = "很" * 4001


@pytest.mark.parametrize(
    ("overrides", "status", "expected"),
    [
        ({"service_code": None}, 400, "service_code: 缺少必填参数"),
        ({"service_code": "NOPE"}, 404, "service_code: 未知的服务"),
        ({"service_code": ["ENV-NOISE", "OTHER"]}, 400, "service_code: 只能提供一次"),
        ({"lat": None, "long": None, "address_string": None}, 400, "address_string"),
        ({"long": None}, 400, "lat/long: 经纬度须同时提供"),
        ({"lat": "north"}, 400, "lat: 须为数字"),
        ({"long": "nan"}, 400, "long: 须为数字"),
        ({"lat": "91"}, 400, "lat: 不能大于 90"),
        ({"long": "-181"}, 400, "long: 不能小于 -180"),
        ({"description": LONG}, 400, "description: 长度不能超过 4000"),
        ({"phone": "12345"}, 400, "phone: 手机号码格式不正确"),
        ({"email": "not-an-email"}, 400, "email: 电子邮箱格式不正确"),
        ({"media_url": "ftp://example.com/a.jpg"}, 400, "media_url: "),
        ({"service_code": "LAMP-VILLAGE"}, 400, "attribute[lamp_count]: 必填属性缺失"),
        (
            {"service_code": "LAMP-VILLAGE", "attribute[lamp_count]": "three"},
            400,
            "attribute[lamp_count]: 须为数字",
        ),
        ({"attribute[noise_period]": "evening"}, 400, "attribute[noise_period]: 须为以下之一"),
        (
            {"attribute[noise_source]": ["construction", "aircraft"]},
            400,
            "attribute[noise_source]: 未知选项 (unknown values): aircraft",
        ),
        ({"attribute[noise_period]": ["night", "day"]}, 400, "只能提供一个值"),
        ({"attribute[colour]": "red"}, 400, "attribute[colour]: 该类别没有此属性"),
        ({"attribute[]": "x"}, 400, "attribute[]: 属性代码为空"),
    ],
)
def test_post_errors_write_nothing(
    client: TestClient,
    keys: Keys,
    engine: Engine,
    overrides: dict[str, Any],
    status: int,
    expected: str,
) -> None:
    descriptions = errors_of(post(client, keys, **overrides), status)
    assert any(expected in d for d in descriptions), descriptions
    assert counts(engine) == (0, 0, 0)


def test_post_reports_every_bad_field(client: TestClient, keys: Keys) -> None:
    descriptions = errors_of(post(client, keys, phone="123", description=LONG), 400)
    assert {d.split(":", 1)[0] for d in descriptions} == {"phone", "description"}


def test_description_of_4000_characters_is_accepted(client: TestClient, keys: Keys) -> None:
    wo_no = submit(client, keys, description="很" * 4000)
    order = staff_view(client, keys, wo_no)
    assert len(order["content"]) == 4000
    assert order["title"] == "噪声污染：" + "很" * 30


def test_post_json_body_is_refused(client: TestClient, keys: Keys, engine: Engine) -> None:
    response = client.post(f"{BASE}/requests.json", json=form(keys))
    assert "表单" in errors_of(response, 400)[0]
    assert counts(engine) == (0, 0, 0)


def test_malformed_multipart_is_an_open311_400(client: TestClient, engine: Engine) -> None:
    response = client.post(
        f"{BASE}/requests.json",
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--xyz--\r\n",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    errors_of(response, 400)
    assert counts(engine) == (0, 0, 0)


# --- tokens --------------------------------------------------------------------------


def test_token_lookup(client: TestClient, keys: Keys) -> None:
    receipt = post(client, keys).json()[0]
    token, wo_no = receipt["token"], receipt["service_request_id"]
    response = client.get(f"{BASE}/tokens/{token}.json")
    assert response.status_code == 200
    assert response.json() == [{"service_request_id": wo_no, "token": token}]
    root = xml(client.get(f"{BASE}/tokens/{token}.xml"))
    assert root.tag == "service_requests"
    assert texts(root, "request/service_request_id") == [wo_no]
    assert texts(root, "request/token") == [token]


def test_unknown_token_is_404(client: TestClient) -> None:
    errors_of(client.get(f"{BASE}/tokens/no-such-token.json"), 404)
    assert texts(xml(client.get(f"{BASE}/tokens/no-such-token.xml")), "error/code") == ["404"]


# --- GET a request -------------------------------------------------------------------


def test_get_request_json_is_public_and_masked(client: TestClient, keys: Keys) -> None:
    wo_no = submit(client, keys, description=f"我是张三，工地夜间施工噪声很大，联系电话{PHONE}")
    response = client.get(f"{BASE}/requests/{wo_no}.json")
    assert response.status_code == 200
    (request,) = response.json()
    assert PHONE not in response.text and "张三" not in response.text
    assert "zhangsan" not in response.text
    due = staff_view(client, keys, wo_no)["sla"]["response_due"]
    assert request == {
        "service_request_id": wo_no,
        "status": "open",
        "status_notes": "已受理",
        "service_name": "噪声污染",
        "service_code": "ENV-NOISE",
        "description": "我是张*，工地夜间施工噪声很大，联系电话138****1234",
        "agency_responsible": "经开区12345响应中心",
        "service_notice": request["service_notice"],
        "requested_datetime": request["requested_datetime"],
        "updated_datetime": request["requested_datetime"],
        "expected_datetime": due,
        "address": "经开区某路与某街交叉口",
        "address_id": None,
        "zipcode": None,
        "lat": pytest.approx(38.0426),
        "long": pytest.approx(114.5149),
        "media_url": "https://img.example.com/p/noise.jpg",
    }
    assert request["requested_datetime"].endswith("+08:00")
    assert "经开区12345响应中心" in request["service_notice"]


def test_get_request_xml(client: TestClient, keys: Keys) -> None:
    wo_no = submit(client, keys, description="噪声\x0b很大")
    root = xml(client.get(f"{BASE}/requests/{wo_no}.xml"))
    assert root.tag == "service_requests"
    (request,) = root.findall("request")
    assert request.findtext("service_request_id") == wo_no
    assert request.findtext("status") == "open"
    assert request.findtext("description") == "噪声很大"  # control character dropped
    assert request.findtext("requested_datetime").endswith("+08:00")
    assert request.find("zipcode").text is None
    assert float(request.findtext("lat")) == pytest.approx(38.0426)


def test_agency_is_the_lead_units_name(client: TestClient, keys: Keys, engine: Engine) -> None:
    wo_no = submit(client, keys)
    now = utcnow()
    with engine.begin() as conn:
        for unit, state in (("JKQ-CGJ", "withdrawn"), ("JKQ-HBJ", "dispatched")):
            conn.execute(
                assignments.insert().values(
                    wo_no=wo_no,
                    unit_code=unit,
                    role="lead",
                    state=state,
                    delivery_state="delivered",
                    return_count=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    (request,) = client.get(f"{BASE}/requests/{wo_no}.json").json()
    assert request["agency_responsible"] == catalogue_of(client).units["JKQ-HBJ"].name


def test_confidential_requester_shows_no_text_or_place(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    wo_no = submit(client, keys)
    set_columns(engine, wo_no, requester={"phone": PHONE, "confidential": True})
    (request,) = client.get(f"{BASE}/requests/{wo_no}.json").json()
    assert request["description"] is None
    assert request["address"] is None and request["lat"] is None and request["media_url"] is None


def test_unknown_request_is_404(client: TestClient) -> None:
    errors_of(client.get(f"{BASE}/requests/JK000.json"), 404)
    assert texts(xml(client.get(f"{BASE}/requests/JK000.xml")), "error/code") == ["404"]


# --- GET requests --------------------------------------------------------------------


def test_list_newest_first_in_both_formats(client: TestClient, keys: Keys) -> None:
    made = [submit(client, keys) for _ in range(3)]
    assert listed(client, jurisdiction_id="jingkai.gov.cn") == made[::-1]
    root = xml(client.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests"
    assert texts(root, "request/service_request_id") == made[::-1]
    assert texts(root, "request/status") == ["open"] * 3


@pytest.fixture
def old_and_new(client: TestClient, keys: Keys, engine: Engine) -> Iterator[tuple[str, str]]:
    old, new = submit(client, keys), submit(client, keys)
    past = utcnow() - timedelta(days=100)
    set_columns(engine, old, created_at=past, updated_at=past)
    yield old, new


def test_default_window_is_the_last_90_days(
    client: TestClient, old_and_new: tuple[str, str]
) -> None:
    old, new = old_and_new
    now = utcnow()
    assert listed(client) == [new]
    assert listed(client, start_date=iso(now - timedelta(days=101))) == [old]
    assert listed(client, end_date=iso(now - timedelta(days=95))) == [old]
    assert set(listed(client, service_request_id=f"{old},{new}")) == {old, new}


def test_status_filter(client: TestClient, keys: Keys, engine: Engine) -> None:
    closed, still_open = submit(client, keys), submit(client, keys)
    set_columns(engine, closed, status="resolved", closed_at=utcnow())
    assert listed(client, status="closed") == [closed]
    assert listed(client, status="open") == [still_open]
    assert listed(client, status="open,closed") == [still_open, closed]
    assert listed(client, status=["open", "closed"]) == [still_open, closed]
    (request,) = client.get(f"{BASE}/requests/{closed}.json").json()
    assert request["status"] == "closed"
    assert request["status_notes"] == "已办结（部门反馈）"
    assert "status" in errors_of(client.get(f"{BASE}/requests.json?status=pending"), 400)[0]


def test_service_code_filter(client: TestClient, keys: Keys) -> None:
    noise, praise = submit(client, keys), submit(client, keys, service_code="PRAISE")
    assert listed(client, service_code="ENV-NOISE") == [noise]
    assert listed(client, service_code="ENV-NOISE,PRAISE") == [praise, noise]
    assert listed(client, service_code=["PRAISE"]) == [praise]


def test_service_request_id_overrides_other_filters(client: TestClient, keys: Keys) -> None:
    wo_no = submit(client, keys)
    assert listed(client, service_request_id=wo_no, status="closed", service_code="X") == [wo_no]


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "yesterday"},
        {"start_date": "2025-01-01T00:00:00"},
        {"end_date": "2025-13-01T00:00:00Z"},
        {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
        {"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"},
    ],
)
def test_bad_dates_are_400(client: TestClient, params: dict[str, str]) -> None:
    errors_of(client.get(f"{BASE}/requests.json", params=params), 400)
    response = client.get(f"{BASE}/requests.xml", params=params)
    assert response.status_code == 400
    assert texts(xml(response), "error/code") == ["400"]


def test_unencoded_plus_in_offset_is_accepted(client: TestClient, keys: Keys) -> None:
    wo_no = submit(client, keys)
    start = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S") + " 00:00"
    assert listed(client, start_date=start) == [wo_no]


def test_at_most_open311_max_results(settings: Settings, keys: Keys) -> None:
    app = create_app(dataclasses.replace(settings, open311_max_results=2))
    with TestClient(app) as small:
        made = [submit(small, keys) for _ in range(3)]
        assert listed(small) == made[:0:-1]
        errors_of(small.get(f"{BASE}/requests.json?service_request_id=a,b,c"), 400)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_oversized_body_is_an_open311_413(client: TestClient, fmt: str, engine: Engine) -> None:
    response = client.post(
        f"/open311/v2/requests.{fmt}",
        content=b"description=" + b"x" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    if fmt == "json":
        assert response.json()[0]["code"] == 413
    else:
        assert etree.fromstring(response.content).find("error/code").text == "413"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(work_orders)).scalar_one() == 0


def test_raw_utf8_form_body_is_read_as_chinese(client: TestClient, keys: Keys) -> None:
    """curl -d with Chinese text sends UTF-8 bytes without percent-encoding."""
    body = f"api_key={keys.portal}&service_code=ENV-NOISE&address_string=某路口&phone=13812341234"
    body += "&description=夜间施工噪音扰民"
    response = client.post(
        f"{BASE}/requests.json",
        content=body.encode("utf-8"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    wo_no = response.json()[0]["service_request_id"]
    got = client.get(f"{BASE}/requests/{wo_no}.json").json()[0]
    assert got["description"] == "夜间施工噪音扰民"
    assert got["address"] == "某路口"
