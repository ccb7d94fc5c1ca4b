"""Open311 GeoReport v2 under /open311/v2: discovery, services, requests, tokens.

Every path ends in .json or .xml (GeoReport v2 "Format Support"). GETs are public; POST
requests needs an api_key with scope portal, staff or admin (403 otherwise, as the spec says).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from hub.api.errors import ApiError
from hub.api.intake_writer import SubmitJob, submit_job
from hub.api.open311 import filters, forms, present
from hub.api.open311.errors import Open311Error, from_intake
from hub.api.open311.render import parse_format, render
from hub.api.open311.routing import ALL_METHODS, Open311Route, no_such_resource
from hub.api.state import HubState, State, actor_of, lookup_key
from hub.model.base import utcnow
from hub.services.intake import IntakeError, NewOrder, check_submission
from hub.store import work_orders as repo
from hub.store.api_keys import ApiKey
from hub.store.search import MatterQuery, search_matters

router = APIRouter(prefix="/open311", tags=["Open311 GeoReport v2"], route_class=Open311Route)

SUBMIT_SCOPES = ("portal", "staff", "admin")
BAD_KEY = "api_key 缺失、无效或已吊销 (missing, invalid or revoked api_key)"
_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/xml": {}}, "description": "OK"}
}
Listed = Annotated[list[str] | None, Query(description="可逗号分隔或重复 (comma list or repeated)")]
Jurisdiction = Annotated[
    str | None, Query(description="单一辖区，忽略 (single jurisdiction; ignored)")
]


def authorise(state: HubState, clear: str | None) -> ApiKey:
    try:
        key = lookup_key(state, clear)
    except ApiError:
        key = None
    if key is None:
        raise Open311Error(403, BAD_KEY)
    if key.scope not in SUBMIT_SCOPES:
        raise Open311Error(403, f"此 api_key 无权提交诉求 (scope {key.scope!r} may not submit)")
    return key


@router.get("/v2/discovery.{fmt}", summary="服务发现 Discovery", responses=_FORMATS)
def discovery(fmt: str, state: State, jurisdiction_id: Jurisdiction = None) -> Response:
    return render(parse_format(fmt), "discovery", present.discovery(state.settings))


@router.get("/v2/services.{fmt}", summary="服务列表 Service list", responses=_FORMATS)
def services(
    fmt: str,
    state: State,
    jurisdiction_id: Jurisdiction = None,
    matters: Annotated[
        bool, Query(description="列出政务服务事项（仅供查询）(list service matters instead)")
    ] = False,
    q: Annotated[str | None, Query(max_length=100, description="事项检索词 (matters only)")] = None,
) -> Response:
    output = parse_format(fmt)
    if matters:
        query = MatterQuery(text=q, limit=state.settings.open311_max_results)
        with state.engine.connect() as conn:
            hits = search_matters(conn, query)
        return render(output, "services", [present.matter_service(h["data"]) for h in hits.items])
    catalogue = state.catalogue.get()
    body = [present.service(c, catalogue) for c in catalogue.categories.values()]
    return render(output, "services", body)


@router.get(
    "/v2/services/{service_code}.{fmt}", summary="服务定义 Service definition", responses=_FORMATS
)
def service_definition(
    service_code: str, fmt: str, state: State, jurisdiction_id: Jurisdiction = None
) -> Response:
    output = parse_format(fmt)
    category = state.catalogue.get().categories.get(service_code)
    if category is None:
        raise Open311Error(404, f"service_code: 未知的服务 {service_code!r} (service not found)")
    return render(output, "service_definition", present.service_definition(category))


# Success is 200, not 201: GeoReport v2 gives no other status for POST Service Request and
# its examples answer with a plain body, so Open311 clients expect 200 OK.
@router.post("/v2/requests.{fmt}", summary="提交诉求 Create a service request", responses=_FORMATS)
async def create_request(fmt: str, request: Request, state: State) -> Response:
    output = parse_format(fmt)
    forms.check_content_type(request.headers.get("content-type"))
    async with request.form() as data:
        form = forms.read_form(data.multi_items())
    key = await state.run(lambda: authorise(state, form.get("api_key")))
    catalogue = state.catalogue.get()
    submission = forms.to_submission(form, forms.service_of(form, catalogue))
    minutes = state.settings.response_minutes
    job = SubmitJob(
        order=NewOrder(submission, actor_of(key), open311_token=secrets.token_urlsafe(16)),
        api_key_id=key.id,
        render=lambda receipt: [present.receipt(receipt, form.get("account_id"), minutes)],
    )
    try:
        check_submission(submission, catalogue)
        done = await submit_job(state.intake, job)
    except IntakeError as exc:
        raise from_intake(exc) from None
    return render(output, "service_requests", done.body)


@router.get("/v2/requests.{fmt}", summary="诉求列表 Service requests", responses=_FORMATS)
def list_requests(
    fmt: str,
    state: State,
    service_request_id: Listed = None,
    service_code: Listed = None,
    status: Listed = None,
    start_date: str | None = None,
    end_date: str | None = None,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    output = parse_format(fmt)
    limit = state.settings.open311_max_results
    order_filter = filters.request_filter(
        ids=service_request_id,
        service_codes=service_code,
        statuses=status,
        start_date=start_date,
        end_date=end_date,
        now=utcnow(),
        max_ids=limit,
    )
    catalogue = state.catalogue.get()
    with state.engine.connect() as conn:
        orders, _ = repo.list_work_orders(conn, order_filter, limit)
    return render(output, "service_requests", [present.request(o, catalogue) for o in orders])


@router.get(
    "/v2/requests/{service_request_id}.{fmt}", summary="诉求 Service request", responses=_FORMATS
)
def get_request(
    service_request_id: str, fmt: str, state: State, jurisdiction_id: Jurisdiction = None
) -> Response:
    output = parse_format(fmt)
    with state.engine.connect() as conn:
        order = repo.get_work_order(conn, service_request_id)
    if order is None:
        raise Open311Error(404, "service_request_id: 诉求不存在 (service request not found)")
    return render(output, "service_requests", [present.request(order, state.catalogue.get())])


@router.get("/v2/tokens/{token}.{fmt}", summary="按令牌查编号 Token", responses=_FORMATS)
def get_token(token: str, fmt: str, state: State, jurisdiction_id: Jurisdiction = None) -> Response:
    output = parse_format(fmt)
    with state.engine.connect() as conn:
        wo_no = repo.find_by_open311_token(conn, token)
    if wo_no is None:
        raise Open311Error(404, "token: 令牌不存在 (token not found)")
    return render(output, "service_requests", [present.token(wo_no, token)])


# Last: anything else under /open311 gets an Open311 404 (or 405), never the canonical envelope.
@router.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
def unknown(path: str, request: Request) -> Response:
    raise no_such_resource(request, router.routes)
