"""Each unit's results for a period (绩效), as the performance-assessment centre counts them.

Every measure is a count or a share with its numerator and denominator, computed from
what the store already records: assignments (dispatched, signed, fed back, due), the
events of the timeline (returned, reopened, replied, revisited), the orders' response
clock, the matter catalogue and the cases. Order-level events count for the order's lead
unit, the first response is the response centre's; the district row counts each order
once. docs/matters.md gives every definition.

A period is a day (2026-11-27), an ISO week (2026-W48), a month (2026-11), a quarter
(2026-Q4) or a year (2026), in local time; figures are as of the period's end, or now
when the period is still running.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, and_, or_, select

from hub.config import Settings
from hub.model.base import LOCAL_ZONE
from hub.model.codes import AppealType, AssignmentRole, EventAction, Urgency
from hub.model.work_order import SlaDeadlines
from hub.reference import load_reference
from hub.services.cases import calendar_from
from hub.services.matters_sync import DEFAULT_STALE_DAYS, completeness_rates
from hub.store.cases import CaseFilter, case_rows
from hub.store.schema import assignments, events, work_orders
from hub.workflow.calendar import WorkingCalendar
from hub.workflow.dispatch_policy import load_dispatch_policy
from hub.workflow.sla import SlaPolicy, load_sla_policy

PeriodKind = Literal["day", "week", "month", "quarter", "year"]
Direction = Literal["higher", "lower"]
DISTRICT = "*"

#: Satisfaction codes that count as satisfied (非常满意, 满意, 基本满意); 4 and 5 are 差评.
SATISFIED = frozenset({"1", "2", "3"})
_CLOSED_ASSIGNMENTS = ("returned", "withdrawn")


@dataclass(frozen=True)
class MeasureSpec:
    key: str
    label: str
    kind: Literal["count", "rate", "days"]
    better: Direction


MEASURES: tuple[MeasureSpec, ...] = (
    MeasureSpec("received", "收到派单数 (orders received)", "count", "higher"),
    MeasureSpec("signed_on_time", "按时签收率 (signed on time)", "rate", "higher"),
    MeasureSpec("answered_30min", "30分钟内响应率 (answered within 30 minutes)", "rate", "higher"),
    MeasureSpec("resolved_on_time", "按时办结率 (resolved on time)", "rate", "higher"),
    MeasureSpec("overdue_count", "超期件数 (overdue orders)", "count", "lower"),
    MeasureSpec("overdue_days", "超期工作日数 (overdue working days)", "days", "lower"),
    MeasureSpec("returns", "退单数 (returns)", "count", "lower"),
    MeasureSpec("reopen_rate", "重办率 (reopen rate)", "rate", "lower"),
    MeasureSpec("satisfaction", "满意率 (satisfaction)", "rate", "higher"),
    MeasureSpec("revisit_coverage", "回访率 (revisit coverage)", "rate", "higher"),
    MeasureSpec("matter_completeness", "事项完整率 (matter-list completeness)", "rate", "higher"),
    MeasureSpec("one_visit_rate", "最多跑一次率 (at most one visit)", "rate", "higher"),
    MeasureSpec(
        "promise_compliance", "承诺时限办结率 (finished within the promise)", "rate", "higher"
    ),
)
SPECS = {spec.key: spec for spec in MEASURES}


# --- periods ------------------------------------------------------------------------------

_PATTERNS: tuple[tuple[PeriodKind, re.Pattern[str]], ...] = (
    ("day", re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    ("week", re.compile(r"^(\d{4})-W(\d{2})$")),
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})-Q([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
)


@dataclass(frozen=True)
class Period:
    """Local calendar dates [start, end); `key` is how the API and the files name it."""

    kind: PeriodKind
    key: str
    start: date
    end: date

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time(), LOCAL_ZONE).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.end, time(), LOCAL_ZONE).astimezone(UTC)

    @property
    def label(self) -> str:
        s = self.start
        if self.kind == "day":
            return f"{s.year}年{s.month}月{s.day}日"
        if self.kind == "week":
            year, week, _ = s.isocalendar()
            return f"{year}年第{week}周"
        if self.kind == "month":
            return f"{s.year}年{s.month}月"
        if self.kind == "quarter":
            return f"{s.year}年第{(s.month - 1) // 3 + 1}季度"
        return f"{s.year}年"

    def parts(self) -> list[Period]:
        """The sub-periods a trend shows: days of a week or month, months of a quarter/year."""
        if self.kind in ("week", "month"):
            return [
                day_period(self.start + timedelta(n)) for n in range((self.end - self.start).days)
            ]
        if self.kind in ("quarter", "year"):
            months, cursor = [], self.start
            while cursor < self.end:
                months.append(parse_period(f"{cursor.year}-{cursor.month:02d}"))
                cursor = months[-1].end
            return months
        return []


def day_period(day: date) -> Period:
    return Period("day", day.isoformat(), day, day + timedelta(1))


def parse_period(text: str) -> Period:
    """'2026-11-27', '2026-W48', '2026-11', '2026-Q4' or '2026'; ValueError otherwise."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(text.strip())
        if not match:
            continue
        numbers = [int(g) for g in match.groups()]
        try:
            if kind == "day":
                return day_period(date(*numbers))
            if kind == "week":
                start = date.fromisocalendar(numbers[0], numbers[1], 1)
                return Period("week", text.strip(), start, start + timedelta(7))
            if kind == "month":
                start = date(numbers[0], numbers[1], 1)
                end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
                return Period("month", text.strip(), start, end)
            if kind == "quarter":
                start = date(numbers[0], 3 * numbers[1] - 2, 1)
                end = date(start.year + (start.month + 2) // 12, (start.month + 2) % 12 + 1, 1)
                return Period("quarter", text.strip(), start, end)
            return Period("year", text.strip(), date(numbers[0], 1, 1), date(numbers[0] + 1, 1, 1))
        except ValueError:
            break
    raise ValueError(
        f"考核期无效 (invalid period) {text!r}: 2026-11-27, 2026-W48, 2026-11, 2026-Q4 或 2026"
    )


# --- tallies ------------------------------------------------------------------------------


@dataclass
class Measure:
    key: str
    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None

    @property
    def spec(self) -> MeasureSpec:
        return SPECS[self.key]


@dataclass
class UnitKpis:
    unit_code: str
    unit_name: str
    measures: dict[str, Measure] = field(default_factory=dict)


@dataclass
class KpiReport:
    period: Period
    as_of: datetime
    units: list[UnitKpis]
    district: UnitKpis

    def unit(self, code: str) -> UnitKpis | None:
        return next((u for u in self.units if u.unit_code == code), None)


class _Tally:
    """Per measure and unit: item key → outcome (True/False for shares, a number for sums).

    Keyed items let the district row count an order once, however many units it reached.
    """

    def __init__(self) -> None:
        self.items: dict[str, dict[str, dict[str, Any]]] = {}

    def add(self, measure: str, unit: str | None, item: str, outcome: Any) -> None:
        for who in (unit or "", DISTRICT):
            self.items.setdefault(measure, {}).setdefault(who, {})[item] = outcome

    def units(self) -> set[str]:
        return {u for per in self.items.values() for u in per if u != DISTRICT}

    def measure(self, key: str, unit: str) -> Measure:
        outcomes = self.items.get(key, {}).get(unit, {})
        spec = SPECS[key]
        if spec.kind == "rate":
            good = sum(1 for v in outcomes.values() if v)
            total = len(outcomes)
            return Measure(key, round(good / total, 4) if total else None, good, total)
        return Measure(key, sum(outcomes.values()))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


# --- the computation ----------------------------------------------------------------------


@dataclass(frozen=True)
class KpiInputs:
    """What the computation needs besides the database: policies and the reference data."""

    sla: SlaPolicy
    calendar: WorkingCalendar
    unit_names: dict[str, str]
    response_centre: str = "JKQ-XYZX"
    stale_days: int = DEFAULT_STALE_DAYS


@lru_cache(maxsize=4)
def _inputs_from(policies_dir: Path) -> KpiInputs:
    reference = load_reference(policies_dir)
    dispatch = load_dispatch_policy(policies_dir / "dispatch.yaml", reference)
    return KpiInputs(
        sla=load_sla_policy(policies_dir / "sla.yaml"),
        calendar=calendar_from(policies_dir / "calendars"),
        unit_names={u.code: u.name for u in reference.units},
        response_centre=dispatch.response_centre or "JKQ-XYZX",
    )


def kpi_inputs(settings: Settings) -> KpiInputs:
    """The policies and unit names of these settings, loaded once per policies folder."""
    return _inputs_from(settings.policies_dir)


def compute_kpis(
    conn: Connection,
    period: Period,
    inputs: KpiInputs,
    *,
    now: datetime,
    unit: str | None = None,
    with_matters: bool = True,
) -> KpiReport:
    """Every measure for every unit with activity in the period (or the one asked for)."""
    start, end = period.start_utc, period.end_utc
    as_of = min(now, end)
    tally = _Tally()
    _work_order_measures(conn, tally, inputs, start, end, as_of)
    _event_measures(conn, tally, start, end, as_of)
    _case_measures(conn, tally, start, end)
    if with_matters:
        for code, entry in completeness_rates(
            conn, now=as_of, stale_days=inputs.stale_days
        ).items():
            for index in range(entry.active):
                tally.add("matter_completeness", code, f"{code}:{index}", index < entry.complete)
    codes = sorted(tally.units() - {""}) if unit is None else [unit]

    def kpis(code: str, name: str) -> UnitKpis:
        return UnitKpis(code, name, {s.key: tally.measure(s.key, code) for s in MEASURES})

    units = [kpis(c, inputs.unit_names.get(c, c)) for c in codes]
    return KpiReport(period, as_of, units, kpis(DISTRICT, "全区 (district)"))


def _sign_due(inputs: KpiInputs, order: dict[str, Any], dispatched: datetime) -> datetime | None:
    try:
        rule = inputs.sla.rule_for(AppealType(order["appeal_type"]), Urgency(order["urgency"]))
        return rule.sign.due(inputs.calendar, dispatched)
    except ValueError:  # a code the policy does not know, or a year the calendar lacks
        return None


def _overdue_days(calendar: WorkingCalendar, due: datetime, until: datetime) -> int:
    try:
        return max(0, calendar.working_days_between(due, until))
    except ValueError:
        return max(0, (until - due).days)


def _work_order_measures(
    conn: Connection,
    tally: _Tally,
    inputs: KpiInputs,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> None:
    """Assignment measures, and the response clock of the orders received."""
    a, w = assignments.c, work_orders.c
    rows = conn.execute(
        select(
            a.id, a.wo_no, a.unit_code, a.role, a.state, a.created_at, a.dispatched_at,
            a.signed_at, a.fed_back_at, a.due_at, w.appeal_type, w.urgency,
        )
        .select_from(assignments.join(work_orders, a.wo_no == w.wo_no))
        .where(
            and_(
                a.created_at < end,
                or_(a.created_at >= start, a.fed_back_at.is_(None), a.fed_back_at >= start),
            )
        )
    ).mappings()  # fmt: skip
    for row in rows:
        wo, unit = row["wo_no"], row["unit_code"]
        item = f"assignment:{row['id']}"
        created, dispatched = _aware(row["created_at"]), _aware(row["dispatched_at"])
        signed, fed_back = _aware(row["signed_at"]), _aware(row["fed_back_at"])
        due = _aware(row["due_at"])
        if _in(created, start, end):
            tally.add("received", unit, wo, 1)
        if _in(dispatched, start, end) and dispatched is not None:
            sign_due = _sign_due(inputs, dict(row), dispatched)
            if sign_due is not None and (signed is not None or as_of > sign_due):
                tally.add("signed_on_time", unit, item, signed is not None and signed <= sign_due)
        if row["state"] in _CLOSED_ASSIGNMENTS or due is None:
            continue
        finished_here = fed_back is not None and _in(fed_back, start, end)
        open_and_due = (fed_back is None or fed_back > as_of) and _in(due, start, as_of)
        if not (finished_here or open_and_due):
            continue
        until = fed_back if finished_here and fed_back is not None else as_of
        late = until > due
        tally.add("resolved_on_time", unit, item, not late)
        if late:
            tally.add("overdue_count", unit, item, 1)
            tally.add("overdue_days", unit, item, _overdue_days(inputs.calendar, due, until))
    # The first response (a direct answer, or triage) is the response centre's work.
    orders = conn.execute(
        select(w.wo_no, w.sla).where(and_(w.created_at >= start, w.created_at < end))
    )
    for wo, sla_json in orders:
        sla = SlaDeadlines.model_validate(sla_json or {})
        responded, due = _aware(sla.responded_at), _aware(sla.response_due)
        if due is None or (responded is None and as_of <= due):
            continue
        within = responded is not None and responded <= due
        tally.add("answered_30min", inputs.response_centre, wo, within)


def _chunks(items: Iterable[str], size: int = 500) -> Iterable[list[str]]:
    wanted = sorted(set(items))
    for index in range(0, len(wanted), size):
        yield wanted[index : index + size]


def _lead_units(conn: Connection, orders: Iterable[str]) -> dict[str, list[str]]:
    """The current lead units (主办) of these orders."""
    a = assignments.c
    leads: dict[str, list[str]] = {}
    for chunk in _chunks(orders):
        rows = conn.execute(
            select(a.wo_no, a.unit_code).where(
                and_(
                    a.wo_no.in_(chunk),
                    a.role == AssignmentRole.LEAD.value,
                    a.state.not_in(_CLOSED_ASSIGNMENTS),
                )
            )
        )
        for wo, unit in rows:
            leads.setdefault(wo, []).append(unit)
    return leads


def _later_events(
    conn: Connection, orders: Iterable[str], action: EventAction, as_of: datetime
) -> dict[str, list[datetime]]:
    """When each of these orders had `action`, up to `as_of`."""
    e = events.c
    found: dict[str, list[datetime]] = {}
    for chunk in _chunks(orders):
        rows = conn.execute(
            select(e.wo_no, e.at).where(
                and_(e.wo_no.in_(chunk), e.action == action.value, e.at <= as_of)
            )
        )
        for wo, at in rows:
            found.setdefault(wo, []).append(_aware(at) or at)
    return found


def _event_measures(
    conn: Connection, tally: _Tally, start: datetime, end: datetime, as_of: datetime
) -> None:
    """Returns by the returning unit; resolutions, replies and revisits by lead unit."""
    e = events.c
    wanted = (
        EventAction.RETURNED,
        EventAction.REVISITED,
        EventAction.REPLIED,
        EventAction.FEEDBACK,
    )
    rows = conn.execute(
        select(e.wo_no, e.seq, e.at, e.action, e.unit_code, e.data).where(
            and_(e.at >= start, e.at < end, e.action.in_([x.value for x in wanted]))
        )
    ).all()
    orders = {row[0] for row in rows}
    leads = _lead_units(conn, orders)
    reopened = _later_events(conn, orders, EventAction.REOPENED, as_of)
    revisited = _later_events(conn, orders, EventAction.REVISITED, as_of)
    for wo, seq, at, action, unit, data in rows:
        item, at = f"{wo}:{seq}", _aware(at) or at
        if action == EventAction.RETURNED.value:
            tally.add("returns", unit, item, 1)
        elif action == EventAction.FEEDBACK.value and unit in leads.get(wo, []):
            # 重办率: of the lead's resolutions in the period, the share reopened since
            tally.add("reopen_rate", unit, item, any(t > at for t in reopened.get(wo, [])))
        elif action == EventAction.REVISITED.value:
            score = str((data or {}).get("satisfaction", ""))
            for lead in leads.get(wo, []):
                tally.add("satisfaction", lead, item, score in SATISFIED)
        elif action == EventAction.REPLIED.value:
            for lead in leads.get(wo, []):
                tally.add("revisit_coverage", lead, wo, any(t >= at for t in revisited.get(wo, [])))


def _case_measures(conn: Connection, tally: _Tally, start: datetime, end: datetime) -> None:
    """Cases finished in the period: visits (最多跑一次) and the promised limit."""
    for row in case_rows(conn, CaseFilter(finished_from=start, finished_to=end)):
        unit, item = row["unit_code"], row["case_no"]
        tally.add("one_visit_rate", unit, item, row["visits"] <= 1)
        if row["on_time"] is not None:
            tally.add("promise_compliance", unit, item, bool(row["on_time"]))


# --- presentation -------------------------------------------------------------------------


def ranking(report: KpiReport, key: str) -> list[tuple[int, UnitKpis, Measure]]:
    """Units with a value for the measure, best first (ties share a rank)."""
    spec = SPECS[key]
    scored = [(u, u.measures[key]) for u in report.units if u.measures[key].value is not None]
    if spec.kind != "rate":
        scored = [(u, m) for u, m in scored if m.value or spec.better == "higher"]
    reverse = spec.better == "higher"
    scored.sort(key=lambda pair: -(pair[1].value or 0) if reverse else (pair[1].value or 0))
    ranked: list[tuple[int, UnitKpis, Measure]] = []
    for index, (unit_kpis, measure) in enumerate(scored):
        same = ranked and ranked[-1][2].value == measure.value
        ranked.append((ranked[-1][0] if same else index + 1, unit_kpis, measure))
    return ranked


def measure_view(measure: Measure) -> dict[str, Any]:
    spec = measure.spec
    view: dict[str, Any] = {"label": spec.label, "kind": spec.kind, "value": measure.value}
    if spec.kind == "rate":
        view |= {"numerator": measure.numerator, "denominator": measure.denominator}
    return view


def report_view(report: KpiReport) -> dict[str, Any]:
    def unit_view(unit: UnitKpis) -> dict[str, Any]:
        return {
            "unit_code": unit.unit_code,
            "unit_name": unit.unit_name,
            "measures": {k: measure_view(m) for k, m in unit.measures.items()},
        }

    return {
        "period": {
            "key": report.period.key,
            "kind": report.period.kind,
            "label": report.period.label,
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
        },
        "as_of": report.as_of.isoformat(),
        "district": unit_view(report.district),
        "units": [unit_view(u) for u in report.units],
    }
