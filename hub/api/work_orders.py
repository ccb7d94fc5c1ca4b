"""Canonical work-order API: submit, read (by scope or query code), list, public timeline."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from pydantic_core import to_json

from hub.api.bodies import json_body_doc, parse_json_body, split_codes
from hub.api.errors import ApiError
from hub.api.idempotent import body_hash, check_key
from hub.api.intake_writer import SubmitJob, submit_job
from hub.api.observability import RECEIVED
from hub.api.state import (
    API_KEY_HEADER,
    HubState,
    OptionalKey,
    State,
    actor_of,
    authenticate,
    require,
)
from hub.model import views
from hub.model.codes import AppealType, Channel, WorkOrderState
from hub.model.work_order import WorkOrderSubmission
from hub.services.intake import NewOrder, Receipt, check_submission
from hub.store import work_orders as repo

router = APIRouter(prefix="/api/v1/work-orders", tags=["work-orders 工单"])

SUBMIT_SCOPES = ("portal", "staff", "admin")
READ_SCOPES = ("staff", "admin")
NOT_FOUND = ("not_found", "工单不存在 (work order not found)")


class ReceiptLinks(BaseModel):
    self: str
    timeline: str


class SubmitReceipt(BaseModel):
    """What the channel keeps: the number and the requester's query code (shown once)."""

    wo_no: str
    query_code: str
    status: WorkOrderState
    status_label: str
    created_at: datetime
    response_due: datetime
    links: ReceiptLinks


def receipt_body(receipt: Receipt) -> dict[str, Any]:
    return views.jsonable(
        {
            "wo_no": receipt.wo_no,
            "query_code": receipt.query_code,
            "status": receipt.status.value,
            "status_label": receipt.status.label,
            "created_at": receipt.created_at,
            "response_due": receipt.response_due,
            "links": {
                "self": f"/api/v1/work-orders/{receipt.wo_no}",
                "timeline": f"/api/v1/work-orders/{receipt.wo_no}/timeline",
            },
        }
    )


# The intake hot path reads its state and key straight from the request: each FastAPI
# dependency costs more than the lookup it wraps (see bench/intake.py).
@router.post(
    "",
    status_code=201,
    summary="提交诉求 Submit a request",
    response_model=SubmitReceipt,
    openapi_extra={
        "requestBody": json_body_doc(WorkOrderSubmission),
        "security": [{"APIKeyHeader": []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "重试时携带同一键，返回首次结果 (same key + body → first response)",
            }
        ],
    },
)
async def submit(request: Request) -> Response:
    state: HubState = request.app.state.hub
    key = require(await authenticate(state, request.headers.get(API_KEY_HEADER)), *SUBMIT_SCOPES)
    submission = parse_json_body(WorkOrderSubmission, request, await request.body())
    idempotency_key = request.headers.get("Idempotency-Key")
    check_submission(submission, state.catalogue.get())
    job = SubmitJob(
        order=NewOrder(submission, actor_of(key)),
        api_key_id=key.id,
        render=receipt_body,
        idempotency_key=check_key(idempotency_key) if idempotency_key is not None else None,
        request_hash=body_hash(submission.model_dump(mode="json")) if idempotency_key else None,
    )
    done = await submit_job(state.intake, job)
    headers = {"Location": done.body["links"]["self"]}
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    else:
        RECEIVED.labels(submission.channel.value).inc()
    return Response(to_json(done.body), done.status, headers, media_type="application/json")


@router.get("/{wo_no}", summary="查询工单 Read a work order")
def read(
    wo_no: str,
    state: State,
    key: OptionalKey,
    query_code: Annotated[str | None, Query(max_length=32, description="诉求人查询码")] = None,
) -> dict[str, Any]:
    with state.engine.connect() as conn:
        if query_code is not None:
            if state.query_code_failures.blocked(wo_no):
                raise ApiError(
                    429,
                    "too_many_attempts",
                    "查询码错误次数过多，请稍后再试 (too many wrong query codes; try later)",
                    {"retry_after_seconds": state.query_code_failures.retry_after(wo_no)},
                )
            stored = repo.get_query_code_hash(conn, wo_no)
            given = repo.hash_secret(query_code.strip().upper())
            if stored is None or not hmac.compare_digest(stored, given):
                state.query_code_failures.failed(wo_no)
                raise ApiError(404, *NOT_FOUND)
            order = repo.get_work_order(conn, wo_no)
            assert order is not None
            return views.requester_view(order)
        key = require(key, *READ_SCOPES, unit=True)
        order = repo.get_work_order(conn, wo_no)
        if order is None:
            raise ApiError(404, *NOT_FOUND)
        if key.unit_code is not None:
            if not any(a.unit_code == key.unit_code for a in order.assignments):
                raise ApiError(404, *NOT_FOUND)
            return views.unit_view(order)
        return views.staff_view(order)


@router.get("/{wo_no}/timeline", summary="流程公开 Public timeline")
def timeline(wo_no: str, state: State) -> dict[str, Any]:
    with state.engine.connect() as conn:
        order = repo.get_work_order(conn, wo_no)
        if order is None:
            raise ApiError(404, *NOT_FOUND)
        return views.public_timeline(order, repo.list_events(conn, wo_no, public_only=True))


@router.get("", summary="工单列表 List work orders")
def list_orders(
    state: State,
    key: OptionalKey,
    status: Annotated[list[str] | None, Query(description="状态，可逗号分隔")] = None,
    appeal_type: Annotated[list[str] | None, Query()] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    category: Annotated[list[str] | None, Query()] = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: Annotated[str | None, Query(max_length=100, description="标题包含")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    key = require(key, *READ_SCOPES, unit=True)
    for name, moment in (("created_from", created_from), ("created_to", created_to)):
        if moment is not None and moment.tzinfo is None:
            raise ApiError(
                422,
                "validation_error",
                f"{name} 须带时区 (needs a time zone)",
                [{"field": name, "reason": "timezone required"}],
            )
    before_id = None
    if cursor:
        try:
            before_id = repo.decode_cursor(cursor)
        except ValueError as exc:
            raise ApiError(400, "invalid_cursor", "分页游标无效 (invalid cursor)") from exc
    order_filter = repo.OrderFilter(
        statuses=split_codes(status, WorkOrderState, "status"),
        appeal_types=split_codes(appeal_type, AppealType, "appeal_type"),
        channels=split_codes(channel, Channel, "channel"),
        categories=[c for raw in category or [] for c in raw.split(",") if c],
        unit_code=key.unit_code or unit,
        region_prefix=region,
        created_from=created_from,
        created_to=created_to,
        text=q,
    )
    with state.engine.connect() as conn:
        orders, next_id = repo.list_work_orders(conn, order_filter, limit, before_id)
        total = repo.count_work_orders(conn, order_filter)
    view = views.unit_view if key.unit_code else views.staff_view
    return {
        "items": [view(o) for o in orders],
        "total": total,
        "next_cursor": repo.encode_cursor(next_id) if next_id else None,
    }
