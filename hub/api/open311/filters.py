"""GET requests: Open311 query arguments → the store's OrderFilter.

GeoReport v2: service_request_id overrides every other argument; without dates the window
is the most recent 90 days, and a window may not span more than 90 days; status is open
and/or closed; lists may be comma-delimited or repeated.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from hub.api.open311.errors import field_error
from hub.model.codes import CLOSED_STATES, WorkOrderState
from hub.store.work_orders import OrderFilter

MAX_SPAN = timedelta(days=90)
_STATUSES = {
    "open": [s.value for s in WorkOrderState if s.is_open],
    "closed": sorted(s.value for s in CLOSED_STATES),
}
# An unencoded "+" in a query string arrives as a space: "...T00:00:00 08:00".
_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


def split_list(values: list[str] | None) -> list[str]:
    return [v.strip() for raw in values or [] for v in raw.split(",") if v.strip()]


def parse_moment(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_SPACED_OFFSET.sub(r"+\1", text.strip()))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise field_error(
            name,
            "须为带时区的 ISO 8601 日期时间，如 2025-01-01T00:00:00+08:00 "
            "(must be an ISO 8601 datetime with a time zone)",
        )
    return moment


def _statuses(values: list[str] | None) -> list[str]:
    wanted = split_list(values)
    unknown = [v for v in wanted if v not in _STATUSES]
    if unknown:
        raise field_error("status", f"只能是 open 或 closed (must be open or closed): {unknown[0]}")
    if set(wanted) >= set(_STATUSES):
        return []
    return [state for v in dict.fromkeys(wanted) for state in _STATUSES[v]]


def _window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    first = parse_moment("start_date", start) if start else None
    last = parse_moment("end_date", end) if end else None
    if first is None and last is None:
        return now - MAX_SPAN, now
    if first is None:
        assert last is not None
        return last - MAX_SPAN, last
    if last is None:
        return first, first + MAX_SPAN
    if last < first:
        raise field_error("end_date", "不能早于 start_date (must not be before start_date)")
    if last - first > MAX_SPAN:
        raise field_error(
            "start_date/end_date", "时间范围不能超过 90 天 (may not span more than 90 days)"
        )
    return first, last


def request_filter(
    *,
    ids: list[str] | None,
    service_codes: list[str] | None,
    statuses: list[str] | None,
    start_date: str | None,
    end_date: str | None,
    now: datetime,
    max_ids: int,
) -> OrderFilter:
    wanted = split_list(ids)
    if wanted:
        if len(wanted) > max_ids:
            raise field_error("service_request_id", f"一次最多 {max_ids} 个 (at most {max_ids})")
        return OrderFilter(wo_nos=wanted)
    created_from, created_to = _window(start_date, end_date, now)
    return OrderFilter(
        statuses=_statuses(statuses),
        categories=split_list(service_codes),
        created_from=created_from,
        created_to=created_to,
    )
