"""Shared helpers for the matter and case tests: canonical matters and cases to store.

A plain module (not a conftest): test modules import it by name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from hub.model.service_matter import Case, ServiceMatter
from hub.services.cases import store_case_batch
from hub.store.db import transaction
from hub.store.matters import MatterCounts, upsert_matters

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def matter(code: str, name: str, **fields: Any) -> ServiceMatter:
    """A matter of the market regulator unless told otherwise; `code` is the last digits."""
    data: dict[str, Any] = {
        "implementation_code": f"11130199MB6607476E{code:0>6}",
        "basic_code": f"01{code:0>8}",
        "name": name,
        "matter_type": "01",
        "use_level": "4",
        "unit_code": "JKQ-SJJ",
        "unit_name": "经开区市场监督管理局",
        "legal_limit": {"value": 20},
        "promised_limit": {"value": 10},
        "visits_required": 1,
        "online": True,
        "online_url": "https://www.hbzwfw.gov.cn/x",
        "changed_at": datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
    }
    data.update(fields)
    return ServiceMatter.model_validate(data)


def store(engine: Engine, matters: list[ServiceMatter], now: datetime = NOW) -> MatterCounts:
    with transaction(engine) as conn:
        return upsert_matters(conn, matters, source="test", now=now)


def case(number: str, matter_code: str, accepted: datetime, **fields: Any) -> Case:
    data: dict[str, Any] = {
        "case_no": number,
        "implementation_code": matter_code,
        "applicant": {"name": "张三", "phone": "13812341234"},
        "applied_at": accepted,
        "accepted_at": accepted,
        "visits": 1,
    }
    data.update(fields)
    return Case.model_validate(data)


def store_cases(engine: Engine, cases: list[Case], now: datetime = NOW) -> None:
    with transaction(engine) as conn:
        store_case_batch(conn, cases, source="test", now=now)


#: A small real-looking catalogue: names, keywords and units as the district lists them.
CATALOGUE: list[ServiceMatter] = [
    matter("000001", "食品经营许可", keywords=["餐饮", "饭店", "食品"]),
    matter("000002", "食品经营许可变更", keywords=["食品经营许可证"]),
    matter("000003", "小餐饮食品经营备案", matter_type="10", visits_required=0),
    matter("000004", "食品小作坊登记", matter_type="07", use_level="5", online=False,
           online_url=None),
    matter("000005", "企业设立登记", matter_type="07",
           keywords=["营业执照", "公司注册", "开办企业"],
           unit_code="JKQ-SPJ", unit_name="经开区行政审批局"),
    matter("000006", "营业执照变更登记", matter_type="07", keywords=["营业执照"],
           unit_code="JKQ-SPJ", unit_name="经开区行政审批局"),
    matter("000007", "失业保险金申领", matter_type="05", keywords=["社保", "失业金"],
           unit_code="JKQ-RSJ", unit_name="经开区人力资源和社会保障局", visits_required=0),
    matter("000008", "社会保险登记", matter_type="07", keywords=["社保", "参保"],
           unit_code="JKQ-RSJ", unit_name="经开区人力资源和社会保障局"),
    matter("000009", "建设项目环境影响评价文件审批", keywords=["环评"],
           unit_code="JKQ-HBJ", unit_name="经开区生态环境分局", visits_required=2),
    matter("000010", "ICP经营许可证明开具", matter_type="20", keywords=["互联网"]),
    matter("000011", "药品零售许可", keywords=["药店"], status="deleted"),
    matter("000012", "医疗器械经营备案", matter_type="10", status="suspended"),
]  # fmt: skip


# --- the sandbox Hebei network ------------------------------------------------------------

HEBEI_ENV = {
    "HUB_ALLOWED_HOSTS": "127.0.0.1",
    "AIRFLOW_CONN_HEBEI_NETWORK": "soap://exchange_user:hebei-sandbox@127.0.0.1:8104",
}


def hebei_config(sandbox: Any, page_size: int | None = None) -> Any:
    """The shipped hebei_network config pointed at this sandbox (rate limit lifted)."""
    from hub.config import REPO_ROOT
    from hub.connectors.loader import load_connector
    from hub.connectors.models import RateLimit

    config = load_connector(REPO_ROOT / "connectors" / "hebei_network.yaml")
    wsdl = (config.endpoint.wsdl or "").replace("http://127.0.0.1:8104", sandbox.urls["hebei"])
    streams = [
        s.model_copy(update={"paging": s.paging.model_copy(update={"size": page_size})})
        if page_size and s.paging is not None
        else s
        for s in config.streams
    ]
    return config.model_copy(
        update={
            "endpoint": config.endpoint.model_copy(update={"wsdl": wsdl}),
            "streams": streams,
            "rate_limit": RateLimit(per_second=1000, burst=1000),
        }
    )


def hebei_puller(
    engine: Engine,
    sandbox: Any,
    stream: str,
    *,
    page_size: int | None = None,
    adapter: Any = None,
    mapping: Any = None,
) -> Any:
    """A StreamPuller for the Hebei stream, through the shipped mapping."""
    import pytest

    from hub.adapters.factory import build_adapter
    from hub.config import REPO_ROOT
    from hub.mapping import load_mapping
    from hub.services.catalogue import read_catalogue
    from hub.services.sync import StreamPuller

    config = hebei_config(sandbox, page_size)
    if adapter is None:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in HEBEI_ENV.items():
                patch.setenv(name, value)
            adapter = build_adapter(config, base_dir=REPO_ROOT / "connectors")
    if mapping is None:
        mapping = load_mapping(REPO_ROOT / "mappings" / f"{config.stream(stream).mapping}.yaml")
    return StreamPuller(engine, config, stream, adapter, mapping, read_catalogue(engine))


def control(sandbox: Any, method: str, path: str, **kwargs: Any) -> Any:
    """The sandbox Hebei network's control API; insists the call worked."""
    import requests

    response = requests.request(
        method, f"{sandbox.urls['hebei']}/_sandbox{path}", timeout=10, **kwargs
    )
    assert response.status_code == 200, response.text
    return response.json()
