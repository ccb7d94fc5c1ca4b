"""`POST /api/v1/work-orders/{wo_no}/actions/{action}`: people moving an order along.

Each action has its scope rule (services.actions); a refused transition is a 409 whose
message says what the order is doing now.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from hub.api.errors import ApiError
from hub.api.state import OptionalKey, State, actor_of, require
from hub.model import views
from hub.services import workflow
from hub.services.actions import BODIES, ActionRefused, Actor, perform
from hub.workflow.states import InvalidTransition

router = APIRouter(prefix="/api/v1/work-orders", tags=["actions 工单办理"])

ACTION_SCOPES = ("staff", "admin")
_BY_NAME = {action.value: action for action in BODIES}

_DOC = "\n".join(
    f"- `{a.value}` {a.label}（{'响应中心' if a.scope == 'staff' else '承办单位或响应中心'}）"
    for a in BODIES
)


@router.post(
    "/{wo_no}/actions/{action}",
    summary="办理动作 Act on a work order",
    description="动作 (actions):\n\n" + _DOC,
)
async def act(wo_no: str, action: str, request: Request, state: State, key: OptionalKey) -> Any:
    key = require(key, *ACTION_SCOPES, unit=True)
    chosen = _BY_NAME.get(action)
    if chosen is None:
        raise ApiError(
            404,
            "unknown_action",
            f"未知动作 {action} (unknown action)",
            {"actions": [a.value for a in BODIES]},
        )
    body = _json_object(request, await request.body())
    actor = Actor(actor_of(key), key.scope, key.unit_code)
    context = state.workflow_context()
    try:
        order, change = await state.run(lambda: perform(context, wo_no, chosen, body, actor))
    except workflow.NotFound:
        raise ApiError(404, "not_found", "工单不存在 (work order not found)") from None
    except ActionRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
    except InvalidTransition as exc:
        raise ApiError(409, exc.code, exc.reason) from None
    view = views.staff_view(order) if actor.is_staff else views.unit_view(order)
    return {
        "action": chosen.value,
        "status_before": change.before.value,
        "status": order.status.value,
        "status_label": order.status.label,
        "work_order": view,
    }


def _json_object(request: Request, raw: bytes) -> dict[str, Any]:
    """An action body is a JSON object, and may be empty for sign/close."""
    if not raw.strip():
        return {}
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "请求体须为 application/json (body must be JSON)"
        )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON (malformed JSON)") from None
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_body", "请求体须为 JSON 对象 (body must be a JSON object)")
    return body
