"""Reference-data endpoints, code lists, health and Prometheus metrics."""

from __future__ import annotations

from conftest import Keys, submission
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from hub.api.app import create_app
from hub.config import Settings
from hub.store.migrate import head_revision


def test_org_units_lists_every_tier_with_labels(client: TestClient) -> None:
    units = client.get("/api/v1/org-units").json()["items"]
    tiers = {u["tier"] for u in units}
    assert {"district", "department", "town_street", "village_community"} <= tiers
    env = next(u for u in units if u["code"] == "JKQ-HBJ")
    assert env["tier_label"] == "区直部门" and env["connector"] == "weaver_env"


def test_org_units_filters(client: TestClient) -> None:
    villages = client.get("/api/v1/org-units", params={"tier": "village_community"}).json()["items"]
    assert villages and all(u["tier"] == "village_community" for u in villages)
    children = client.get("/api/v1/org-units", params={"parent": "JKQ-T01"}).json()["items"]
    assert children and all(u["parent"] == "JKQ-T01" for u in children)
    bad = client.get("/api/v1/org-units", params={"tier": "galaxy"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "tier"


def test_categories_and_sections(client: TestClient) -> None:
    body = client.get("/api/v1/categories").json()
    names = [s["name"] for s in body["sections"]]
    assert len(names) == 12 and names[0] == "行政审批"
    codes = {c["code"] for c in body["items"]}
    assert {"ENV-NOISE", "URB-MUCK-SPILL", "OTHER"} <= codes
    complaints = client.get("/api/v1/categories", params={"section": "complaint"}).json()["items"]
    assert complaints and all(c["section"] == "complaint" for c in complaints)
    assert client.get("/api/v1/categories", params={"section": "nope"}).status_code == 404


def test_code_lists_carry_chinese_labels(client: TestClient) -> None:
    lists = client.get("/api/v1/code-lists").json()
    assert {"code": "consultation", "label": "咨询"} in lists["appeal_type"]
    assert {"code": "critical", "label": "特急"} in lists["urgency"]
    assert {"code": "01", "label": "行政许可"} in lists["matter_type"]
    assert len(lists["work_order_state"]) == 17


def test_healthz_reports_database_and_revision(client: TestClient, engine: Engine) -> None:
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "database": engine.dialect.name,
        "schema_revision": head_revision(),
    }


def test_healthz_is_503_before_init(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path}/empty.db"))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_initialised"


def test_metrics_count_requests_and_orders(client: TestClient, keys: Keys) -> None:
    def received() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('hub_work_orders_received_total{channel="app"}'):
                return float(line.split()[-1])
        return 0.0

    before = received()
    assert (
        client.post(
            "/api/v1/work-orders", json=submission(), headers=keys.h(keys.portal)
        ).status_code
        == 201
    )
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'route="/api/v1/work-orders",status="201"' in metrics.text
    assert "hub_http_request_duration_seconds_bucket" in metrics.text
    assert received() == before + 1


def test_openapi_documents_the_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/work-orders",
        "/api/v1/work-orders/{wo_no}",
        "/api/v1/work-orders/{wo_no}/timeline",
        "/api/v1/org-units",
        "/api/v1/categories",
        "/healthz",
        "/metrics",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_unknown_path_uses_the_envelope(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_uses_the_envelope(client: TestClient) -> None:
    response = client.delete("/api/v1/work-orders")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_database_is_reachable_from_fixture(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM categories")).scalar_one() == 30
