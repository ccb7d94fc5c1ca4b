"""Cases (办件) judged against the matter version in force when they were accepted.

A department that shortens its promise from 10 to 7 working days changes the rule for
applications accepted from then on; a case accepted before keeps the 10 days it was
promised. So each case is judged by the version valid at its acceptance time: the
promised deadline (on the district's working-day calendar), the on-site visits that
version allows (最多跑一次 = at most one), and whether the case kept both.
"""

from __future__ import annotations

import calendar as months
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection

from hub.config import get_settings
from hub.model.base import LOCAL_ZONE
from hub.model.codes import CaseType, TimeLimitUnit
from hub.model.service_matter import Case, TimeLimit
from hub.store.cases import CaseCounts, Judge, Judgement, MatterHistory, rejudge, upsert_cases
from hub.workflow.calendar import CalendarRangeError, WorkingCalendar, load_calendar

#: Flags a case can carry, with the label shown to staff.
FLAGS = {
    "extra_visit": "跑动次数超过事项承诺 (more on-site visits than the matter allows)",
    "late": "超过承诺时限办结 (finished after the promised time limit)",
    "matter_unknown": "事项尚未同步，暂未判定 (matter not synced yet: not judged)",
    "earliest_version": (
        "受理早于已知最早版本，按最早版本判定 "
        "(accepted before the earliest version known: judged by that version)"
    ),
    "calendar_gap": (
        "工作日历未覆盖该年份，仅扣除周末 (no working-day calendar for that year: weekends only)"
    ),
}

#: When a fallback working day ends (local time) if the calendar does not cover the year.
FALLBACK_DAY_END = time(17, 30)


@lru_cache(maxsize=4)
def calendar_from(directory: Path) -> WorkingCalendar:
    return load_calendar(directory)


def default_calendar() -> WorkingCalendar:
    """The calendar of the configured policies (HUB_POLICIES_DIR), loaded once."""
    return calendar_from(get_settings().policies_dir / "calendars")


def _weekdays_after(start: datetime, days: int) -> datetime:
    local = start.astimezone(LOCAL_ZONE)
    day = local.date()
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return datetime.combine(day, FALLBACK_DAY_END, LOCAL_ZONE)


def _add_months(start: datetime, count: int) -> datetime:
    local = start.astimezone(LOCAL_ZONE)
    month = local.month - 1 + count
    year, month = local.year + month // 12, month % 12 + 1
    day = min(local.day, months.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def deadline(
    calendar: WorkingCalendar, accepted_at: datetime, limit: TimeLimit
) -> tuple[datetime, bool]:
    """When a limit counted from acceptance ends; True when the calendar had a gap."""
    if limit.unit is TimeLimitUnit.NATURAL_DAY:
        return accepted_at + timedelta(days=limit.value), False
    if limit.unit is TimeLimitUnit.HOUR:
        return accepted_at + timedelta(hours=limit.value), False
    if limit.unit is TimeLimitUnit.MONTH:
        return _add_months(accepted_at, limit.value), False
    try:
        return calendar.add_working_days(accepted_at, limit.value), False
    except CalendarRangeError:
        return _weekdays_after(accepted_at, limit.value), True


def judge_case(case: Case, history: MatterHistory, calendar: WorkingCalendar) -> Judgement:
    """The case against the matter version in force at acceptance (or application)."""
    moment = case.accepted_at or case.applied_at
    version, earliest = history.in_force(case.implementation_code, moment)
    if version is None:
        return Judgement(None, None, None, None, None, None, None, ["matter_unknown"])
    matter = version.matter
    flags = ["earliest_version"] if earliest else []
    limit = matter.promised_limit or matter.legal_limit
    if case.case_type is CaseType.IMMEDIATE:
        limit = TimeLimit(value=0)
    due_at = None
    if limit is not None and case.accepted_at is not None:
        due_at, gap = deadline(calendar, case.accepted_at, limit)
        if gap:
            flags.append("calendar_gap")
    on_time = None
    if due_at is not None and case.finished_at is not None:
        on_time = case.finished_at <= due_at
        if not on_time:
            flags.append("late")
    visits_ok = case.visits <= matter.visits_required
    if not visits_ok:
        flags.append("extra_visit")
    return Judgement(
        matter_version_no=version.version_no,
        unit_code=matter.unit_code,
        promised_days=limit.value if limit is not None else None,
        due_at=due_at,
        visits_allowed=matter.visits_required,
        visits_ok=visits_ok,
        on_time=on_time,
        flags=flags,
    )


def case_judge(calendar: WorkingCalendar | None = None) -> Judge:
    """A judge on this calendar (the configured one, loaded when first needed, if None)."""
    return lambda case, history: judge_case(case, history, calendar or default_calendar())


def store_case_batch(
    conn: Connection,
    batch: Sequence[Case],
    *,
    source: str,
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> CaseCounts:
    """Cases from the Hebei network (or a department system), judged and stored."""
    return upsert_cases(conn, batch, case_judge(calendar), source=source, now=now)


def judge_waiting_cases(
    conn: Connection,
    codes: Sequence[str] | None,
    now: datetime,
    calendar: WorkingCalendar | None = None,
) -> int:
    """Cases that arrived before their matter: judged now that the matter is known."""
    return rejudge(conn, case_judge(calendar), codes=codes, now=now)
