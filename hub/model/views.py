"""What each audience may see of a work order: staff, the handling unit, the requester, the public.

Personal data is masked everywhere but the staff view; confidential requesters are hidden
from the handling unit and the public (DESIGN: secure by default).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.model.base import to_local
from hub.model.codes import AppealType, Channel, EventAction, Urgency, WorkOrderState
from hub.model.masking import mask_email, mask_id_number, mask_name, mask_phone, mask_text
from hub.model.work_order import Event, Requester, WorkOrder

CONFIDENTIAL = "保密"
ANONYMOUS = "匿名"
PUBLIC_SUMMARY_LENGTH = 200


def jsonable(value: Any) -> Any:
    """JSON-ready copy with every datetime in Asia/Shanghai, ISO 8601 with its offset."""
    if isinstance(value, datetime):
        return to_local(value).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def masked_requester(requester: Requester) -> dict[str, Any]:
    data = requester.model_dump(exclude_none=True)
    if requester.name:
        data["name"] = mask_name(requester.name)
    if requester.phone:
        data["phone"] = mask_phone(requester.phone)
    if requester.id_number:
        data["id_number"] = mask_id_number(requester.id_number)
    if requester.email:
        data["email"] = mask_email(requester.email)
    return data


def scrub(text: str, requester: Requester) -> str:
    """Mask numbers found in free text, and the requester's own name where it is written."""
    masked = mask_text(text)
    if requester.name and len(requester.name) > 1:
        masked = masked.replace(requester.name, mask_name(requester.name))
    return masked


def requester_display(requester: Requester) -> str:
    """The name the public sees next to an order."""
    if requester.confidential:
        return CONFIDENTIAL
    if requester.anonymous or not requester.name:
        return ANONYMOUS
    return mask_name(requester.name)


def labels(order: WorkOrder) -> dict[str, str]:
    return {
        "status": order.status.label,
        "appeal_type": AppealType(order.appeal_type).label,
        "urgency": Urgency(order.urgency).label,
        "channel": Channel(order.origin.channel).label,
    }


def staff_view(order: WorkOrder) -> dict[str, Any]:
    data = order.model_dump(mode="python")
    data["open311_status"] = order.status.open311_status
    data["labels"] = labels(order)
    return jsonable(data)


def unit_view(order: WorkOrder) -> dict[str, Any]:
    """The handling unit needs the contact to do its job, unless the requester asked for 保密."""
    data = staff_view(order)
    if order.requester.confidential:
        data["requester"] = {"name": CONFIDENTIAL, "confidential": True}
    return data


def requester_view(order: WorkOrder) -> dict[str, Any]:
    data = staff_view(order)
    data["requester"] = masked_requester(order.requester)
    data["title"] = scrub(order.title, order.requester)
    data["content"] = scrub(order.content, order.requester)
    for assignment in data["assignments"]:
        assignment.pop("external_id", None)
        assignment.pop("connector", None)
    return data


def public_event(event: Event) -> dict[str, Any]:
    return jsonable(
        {
            "seq": event.seq,
            "at": event.at,
            "action": event.action.value,
            "action_label": EventAction(event.action).label,
            "state": event.state_after.value if event.state_after else None,
            "state_label": WorkOrderState(event.state_after).label if event.state_after else None,
            "unit_code": event.unit_code,
            "note": mask_text(event.note) if event.note else None,
        }
    )


def public_timeline(order: WorkOrder, events: list[Event]) -> dict[str, Any]:
    """整体流程公开: steps from start to end, nothing that identifies the requester."""
    summary = None
    if not order.requester.confidential:
        summary = scrub(order.content, order.requester)[:PUBLIC_SUMMARY_LENGTH]
    return jsonable(
        {
            "wo_no": order.wo_no,
            "status": order.status.value,
            "status_label": order.status.label,
            "open311_status": order.status.open311_status,
            "appeal_type": order.appeal_type.value,
            "appeal_type_label": order.appeal_type.label,
            "category_code": order.category_code,
            "title": scrub(order.title, order.requester),
            "summary": summary,
            "requester": requester_display(order.requester),
            "created_at": order.created_at,
            "closed_at": order.closed_at,
            "events": [public_event(e) for e in events if e.public],
        }
    )
