"""What Open311 shows: services from the dispatch catalogue, and requests as public records.

Open311 GETs need no key, so a request shows no name, phone or email: the description and
the address are scrubbed (numbers and the requester's own name masked), and a confidential
requester's text and place are left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.config import Settings
from hub.model.base import LOCAL_ZONE
from hub.model.codes import AssignmentRole, AssignmentState
from hub.model.org_unit import Category
from hub.model.views import jsonable, scrub
from hub.model.work_order import WorkOrder
from hub.services.catalogue import Catalogue
from hub.services.intake import Receipt

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# Bump when the services or the behaviour of this facade change (clients cache discovery).
CHANGESET = datetime(2025, 11, 27, tzinfo=LOCAL_ZONE)
CONTACT = (
    "经开区政务服务便民热线响应中心，电话 12345 "
    "(Jingkai district 12345 hotline response centre, phone 12345)"
)
KEY_SERVICE = (
    "提交诉求的 api_key 请向经开区响应中心申请 (apply to the response centre for an api_key)"
)
DEFAULT_AGENCY = "经开区12345响应中心"
_INACTIVE = (AssignmentState.WITHDRAWN, AssignmentState.RETURNED)


def discovery(settings: Settings) -> dict[str, Any]:
    changeset = jsonable(CHANGESET)
    return {
        "changeset": changeset,
        "contact": CONTACT,
        "key_service": KEY_SERVICE,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": settings.public_base_url.rstrip("/") + "/open311/v2",
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service(category: Category, catalogue: Catalogue) -> dict[str, Any]:
    section = catalogue.sections.get(category.section)
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ",".join(category.keywords),
        "group": category.group or (section.name if section else None),
    }


def matter_service(matter: dict[str, Any]) -> dict[str, Any]:
    """A service matter shown as an Open311 service, for lookup only: requests are filed
    under the dispatch-catalogue services, so a matter has no attributes to submit."""
    promised = (matter.get("promised_limit") or {}).get("value")
    visits = matter.get("visits_required", 0)
    facts = [
        f"承诺 {promised} 个工作日 (promised working days)" if promised is not None else None,
        f"到现场 {visits} 次 (on-site visits)",
        "可网上办理 (online)" if matter.get("online") else None,
        matter.get("online_url"),
        "仅供查询，不受理诉求 (lookup only: not for service requests)",
    ]
    return {
        "service_code": matter["implementation_code"],
        "service_name": matter["name"],
        "description": "；".join(f for f in facts if f),
        "metadata": False,
        "type": "batch",
        "keywords": ",".join(matter.get("keywords") or []),
        "group": matter.get("unit_name"),
    }


def service_definition(category: Category) -> dict[str, Any]:
    attributes = sorted(category.attributes, key=lambda a: a.order)
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description,
                "order": a.order,
                "description": a.description,
                "values": [{"key": v.key, "name": v.name} for v in a.values],
            }
            for a in attributes
        ],
    }


def receipt(result: Receipt, account_id: str | None, response_minutes: int) -> dict[str, Any]:
    """The POST answer. GeoReport v2 returns either an id or a token; we return both (the id
    at once, as a realtime service, and the token for clients that only poll tokens)."""
    notice = (
        f"诉求已受理，{response_minutes} 分钟内响应；查询码 {result.query_code}，"
        f"可凭编号和查询码查询办理进度 (received; we respond within {response_minutes} "
        "minutes; keep the query code to follow the request)"
    )
    return {
        "service_request_id": result.wo_no,
        "token": result.open311_token,
        "service_notice": notice,
        "account_id": account_id,
    }


def token(wo_no: str, value: str) -> dict[str, Any]:
    return {"service_request_id": wo_no, "token": value}


def agency(order: WorkOrder, catalogue: Catalogue) -> str:
    """The current lead unit's name; the response centre until the order is dispatched."""
    leads = [
        a for a in order.assignments if a.role == AssignmentRole.LEAD and a.state not in _INACTIVE
    ]
    unit = catalogue.units.get(leads[-1].unit_code) if leads else None
    return unit.name if unit else DEFAULT_AGENCY


def request(order: WorkOrder, catalogue: Catalogue) -> dict[str, Any]:
    category = catalogue.categories.get(order.category_code or "")
    responsible = agency(order, catalogue)
    hidden = order.requester.confidential
    location = None if hidden else order.location
    sla = order.sla
    updated = order.closed_at if not order.is_open and order.closed_at else order.updated_at
    media = None if hidden or not order.attachments else str(order.attachments[0].url)
    return jsonable(
        {
            "service_request_id": order.wo_no,
            "status": order.status.open311_status,
            "status_notes": order.status.label,
            "service_name": category.name if category else None,
            "service_code": order.category_code,
            "description": None if hidden else scrub(order.content, order.requester),
            "agency_responsible": responsible,
            "service_notice": f"承办单位：{responsible} (handled by: {responsible})",
            "requested_datetime": order.created_at,
            "updated_datetime": updated,
            "expected_datetime": sla.extended_until or sla.resolve_due or sla.response_due,
            "address": scrub(location.address, order.requester)
            if location and location.address
            else None,
            "address_id": location.address_id if location else None,
            "zipcode": None,
            "lat": location.latitude if location else None,
            "long": location.longitude if location else None,
            "media_url": media,
        }
    )
