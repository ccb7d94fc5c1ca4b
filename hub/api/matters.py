"""Service matters (政务服务事项) and cases (办件): search, detail with versions, the
departments' fix lists, and cases with their compliance.

The catalogue is public (the portal and the app search it without a key); the fix lists
and cases are for response-centre staff, or for a unit's own key limited to that unit.
Applicants are masked in every case view: the Hebei network is their system of record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.bodies import split_codes
from hub.api.errors import ApiError
from hub.api.state import OptionalKey, State, require
from hub.model.base import utcnow
from hub.model.codes import MatterStatus, MatterType, Satisfaction, UseLevel
from hub.model.masking import mask_id_number, mask_name, mask_phone
from hub.model.views import jsonable
from hub.services.cases import FLAGS
from hub.services.matters_sync import DEFAULT_STALE_DAYS, completeness, fix_list_view
from hub.store import cases as case_store
from hub.store.matters import matter_versions
from hub.store.schema import service_matters
from hub.store.search import MatterQuery, search_matters

router = APIRouter(prefix="/api/v1", tags=["service matters 政务服务事项与办件"])

READ_SCOPES = ("staff", "admin")
STATUSES = {s.value for s in MatterStatus}
#: Fields compared between versions to say what a change was (shown with each version).
COMPARED = (
    "name", "matter_type", "use_level", "unit_code", "unit_name", "legal_limit",
    "promised_limit", "visits_required", "online", "online_url", "status", "keywords",
    "materials", "fees", "place", "hours", "valid_from", "valid_to",
)  # fmt: skip


def matter_view(data: dict[str, Any], version_no: int | None = None) -> dict[str, Any]:
    """The canonical matter with labels, and whether it needs at most one visit."""
    view = dict(data)
    view["matter_type_label"] = MatterType(data["matter_type"]).label
    view["use_level_label"] = UseLevel(data["use_level"]).label
    view["status_label"] = MatterStatus(data.get("status", "active")).label
    view["at_most_one_visit"] = data.get("visits_required", 0) <= 1
    if version_no is not None:
        view["version_no"] = version_no
    return view


@router.get("/service-matters", summary="事项检索 Search service matters")
def search(
    state: State,
    q: Annotated[str | None, Query(max_length=100, description="名称或关键词，如 食品经营")] = None,
    unit: Annotated[str | None, Query(max_length=32, description="实施单位代码")] = None,
    matter_type: Annotated[
        list[str] | None, Query(alias="type", description="事项类型 01 许可 … 20 公共服务")
    ] = None,
    level: Annotated[list[str] | None, Query(description="行使层级 1 … 7")] = None,
    online: Annotated[bool | None, Query(description="是否支持网上办理")] = None,
    visits: Annotated[
        int | None, Query(ge=0, le=10, description="到现场次数不超过 (1 = 最多跑一次)")
    ] = None,
    status: Annotated[
        list[str] | None, Query(description="active（默认）suspended deleted")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> dict[str, Any]:
    query = MatterQuery(
        text=q,
        unit_code=unit,
        matter_types=split_codes(matter_type, MatterType, "type"),
        use_levels=split_codes(level, UseLevel, "level"),
        online=online,
        max_visits=visits,
        statuses=split_codes(status, MatterStatus, "status") or ["active"],
        limit=limit,
        offset=offset,
    )
    with state.engine.connect() as conn:
        hits = search_matters(conn, query)
    return jsonable(
        {
            "items": [matter_view(h["data"], h["version_no"]) for h in hits.items],
            "total": hits.total,
            "limit": limit,
            "offset": offset,
            "partial": hits.partial,
        }
    )


@router.get(
    "/service-matters/completeness",
    summary="事项完整性整改清单 Per-department fix lists",
)
def fix_lists(
    state: State,
    key: OptionalKey,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    stale_days: Annotated[int, Query(ge=1, le=3650)] = DEFAULT_STALE_DAYS,
) -> dict[str, Any]:
    key = require(key, *READ_SCOPES, unit=True)
    names = {code: u.name for code, u in state.catalogue.get().units.items()}
    with state.engine.connect() as conn:
        entries = completeness(
            conn,
            now=utcnow(),
            unit_code=key.unit_code or unit,
            stale_days=stale_days,
            unit_names=names,
        )
    return fix_list_view(entries, stale_days)


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    if before is None:
        return []
    return [
        {"field": f, "before": before.get(f), "after": after.get(f)}
        for f in COMPARED
        if before.get(f) != after.get(f)
    ]


@router.get("/service-matters/{code}", summary="事项详情及版本 A matter with its versions")
def detail(code: str, state: State) -> dict[str, Any]:
    with state.engine.connect() as conn:
        row = (
            conn.execute(
                service_matters.select().where(service_matters.c.implementation_code == code)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise ApiError(404, "not_found", "事项不存在 (service matter not found)")
        versions = matter_versions(conn, code)
    history = []
    previous = None
    for v in versions:
        history.append(
            {
                "version_no": v["version_no"],
                "status": v["status"],
                "valid_from": v["valid_from"],
                "valid_to": v["valid_to"],
                "source_version": v["data"].get("version"),
                "changes": _changes(previous, v["data"]),
                "promised_limit": v["data"].get("promised_limit"),
                "legal_limit": v["data"].get("legal_limit"),
                "visits_required": v["data"].get("visits_required"),
            }
        )
        previous = v["data"]
    view = matter_view(row["data"], row["version_no"])
    view["synced_from"] = row["source"]
    view["updated_at"] = row["updated_at"]
    view["versions"] = history
    return jsonable(view)


# --- cases --------------------------------------------------------------------------------


def case_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A case with its judgement; the applicant masked, steps shown or derived."""
    data = row["data"]
    applicant = data.get("applicant") or {}
    masked = {
        "name": mask_name(applicant["name"]) if applicant.get("name") else None,
        "id_type": applicant.get("id_type"),
        "id_number": mask_id_number(applicant["id_number"]) if applicant.get("id_number") else None,
        "credit_code": applicant.get("credit_code"),
        "phone": mask_phone(applicant["phone"]) if applicant.get("phone") else None,
    }
    steps = data.get("steps") or _derived_steps(data)
    open_and_late = row["finished_at"] is None and row["due_at"] is not None and now > row["due_at"]
    flags = list(row["flags"]) + (["overdue"] if open_and_late else [])
    evaluation = data.get("evaluation")
    if evaluation:
        evaluation = {**evaluation, "label": Satisfaction(evaluation["satisfaction"]).label}
    return jsonable(
        {
            "case_no": row["case_no"],
            "implementation_code": row["implementation_code"],
            "unit_code": row["unit_code"],
            "channel": row["channel"],
            "case_type": row["case_type"],
            "applicant": masked,
            "applied_at": row["applied_at"],
            "accepted_at": row["accepted_at"],
            "promised_at": row["promised_at"],
            "finished_at": row["finished_at"],
            "result": row["result"],
            "visits": row["visits"],
            "steps": steps,
            "evaluation": evaluation,
            "judged_by": {
                "matter_version_no": row["matter_version_no"],
                "promised_days": row["promised_days"],
                "due_at": row["due_at"],
                "visits_allowed": row["visits_allowed"],
            },
            "compliance": {
                "at_most_one_visit": row["visits"] <= 1,
                "visits_ok": row["visits_ok"],
                "on_time": row["on_time"],
            },
            "flags": [
                {"code": f, "label": FLAGS.get(f, "已超承诺时限未办结 (open past its deadline)")}
                for f in flags
            ],
        }
    )


def _derived_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The exchange rows carry no step table: the timeline its own dates give."""
    steps = [{"action": "pass", "name": "申请 (applied)", "ended_at": data.get("applied_at")}]
    if data.get("accepted_at"):
        steps.append({"action": "pass", "name": "受理 (accepted)", "ended_at": data["accepted_at"]})
    if data.get("finished_at"):
        name = f"办结：{data.get('result') or '其他'} (finished)"
        steps.append({"action": "pass", "name": name, "ended_at": data["finished_at"]})
    return steps


def _aware(name: str, moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ApiError(
            422,
            "validation_error",
            f"{name} 须带时区 (needs a time zone)",
            [{"field": name, "reason": "timezone required"}],
        )
    return moment


@router.get("/cases", summary="办件列表 Cases with their compliance")
def list_cases(
    state: State,
    key: OptionalKey,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    matter: Annotated[str | None, Query(max_length=24, description="实施编码")] = None,
    flag: Annotated[
        str | None, Query(pattern="^(extra_visit|late|matter_unknown)$", description="标记")
    ] = None,
    accepted_from: datetime | None = None,
    accepted_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    key = require(key, *READ_SCOPES, unit=True)
    case_filter = case_store.CaseFilter(
        unit_code=key.unit_code or unit,
        implementation_code=matter,
        flag=flag,
        accepted_from=_aware("accepted_from", accepted_from),
        accepted_to=_aware("accepted_to", accepted_to),
    )
    now = utcnow()
    with state.engine.connect() as conn:
        total, rows = case_store.list_cases(conn, case_filter, limit, offset)
    return {"items": [case_view(r, now) for r in rows], "total": total}


@router.get("/cases/{case_no}", summary="办件详情 A case")
def read_case(case_no: str, state: State, key: OptionalKey) -> dict[str, Any]:
    key = require(key, *READ_SCOPES, unit=True)
    with state.engine.connect() as conn:
        row = case_store.get_case(conn, case_no)
    if row is None or (key.unit_code is not None and row["unit_code"] != key.unit_code):
        raise ApiError(404, "not_found", "办件不存在 (case not found)")
    return case_view(row, utcnow())
