"""Unit KPIs (绩效指标) per period, for the performance-assessment centre and the units."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.api.errors import ApiError
from hub.api.state import OptionalKey, State, require
from hub.model.base import utcnow
from hub.services.kpis import MEASURES, compute_kpis, kpi_inputs, parse_period, report_view

router = APIRouter(prefix="/api/v1", tags=["KPIs 绩效"])

READ_SCOPES = ("staff", "admin")


@router.get("/kpis", summary="单位绩效指标 Unit KPIs for a period")
def kpis(
    state: State,
    key: OptionalKey,
    period: Annotated[
        str, Query(max_length=10, description="2026-11-27 | 2026-W48 | 2026-11 | 2026-Q4 | 2026")
    ],
    unit: Annotated[str | None, Query(max_length=32, description="单位代码；缺省为全部")] = None,
) -> dict[str, Any]:
    """Every measure per unit with its numerator and denominator, and the district row.

    A unit's own key sees only that unit (and the district row).
    """
    key = require(key, *READ_SCOPES, unit=True)
    try:
        parsed = parse_period(period)
    except ValueError as exc:
        raise ApiError(
            422, "validation_error", str(exc), [{"field": "period", "reason": str(exc)}]
        ) from None
    if key.unit_code is not None and unit not in (None, key.unit_code):
        raise ApiError(403, "forbidden_unit", "只能查看本单位的指标 (your own unit only)")
    chosen = key.unit_code or unit
    if chosen is not None and chosen not in state.catalogue.get().units:
        raise ApiError(404, "not_found", f"单位不存在 (unknown org unit): {chosen}")
    with state.engine.connect() as conn:
        report = compute_kpis(conn, parsed, kpi_inputs(state.settings), now=utcnow(), unit=chosen)
    view = report_view(report)
    view["definitions"] = {m.key: m.label for m in MEASURES}
    return view
