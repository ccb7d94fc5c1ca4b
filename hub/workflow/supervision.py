"""Supervision (督促): which marks — 预警, 催办, 督办, 超期 — are due on an order now.

The supervisor sweep runs often and may be killed at any moment, so the answer depends
only on the deadlines, the marks already recorded (`MarksMade`, kept in the order's
`supervision` JSON) and `now`: a recorded mark is never due again, and a sweep that comes
late catches up in one go.

When each mark falls, for the deadline that counts (the extension's, else the resolve
deadline):
- warned (预警): at `warn_at`; skipped once the deadline has passed (it would say nothing);
- urged (催办): on the due day at `urge_time`, never before the warning nor after the
  deadline; skipped once supervision is due (督办 supersedes it);
- overdue (超期): as soon as the deadline has passed, with the number of overdue working
  days (working days after the due date up to and including today, so 0 on the evening
  of the due day or over a holiday); due again whenever that number grows beyond the
  last one recorded, carrying the current count only;
- supervised (督办, escalation to the supervising office): at the start of office hours
  on the n-th working day after the due date (`supervise_after_working_days`, 0 = at the
  deadline itself).
Marks belong to one deadline: after an extension, a restart or a reopening the deadline
changes and the cycle starts again. Call this only for orders still being handled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal, get_args

from hub.model.base import LOCAL_ZONE
from hub.model.codes import EventAction
from hub.model.work_order import SlaDeadlines
from hub.workflow.calendar import WorkingCalendar
from hub.workflow.sla import SupervisionRules, effective_due

MarkKind = Literal["warned", "urged", "supervised", "overdue"]
KINDS: tuple[MarkKind, ...] = get_args(MarkKind)
#: Tie-break for marks due at the same moment.
_ORDER: dict[MarkKind, int] = {"warned": 0, "urged": 1, "overdue": 2, "supervised": 3}
ACTIONS: dict[MarkKind, EventAction] = {
    "warned": EventAction.WARNED,
    "urged": EventAction.URGED,
    "supervised": EventAction.SUPERVISED,
    "overdue": EventAction.OVERDUE,
}


@dataclass(frozen=True)
class Mark:
    """A supervision mark to record as an event with `action` and `event_data()`."""

    kind: MarkKind
    due_at: datetime
    deadline: datetime
    overdue_days: int = 0

    @property
    def action(self) -> EventAction:
        return ACTIONS[self.kind]

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "deadline": self.deadline.isoformat(),
            "due_at": self.due_at.isoformat(),
        }
        if self.kind == "overdue":
            data["overdue_days"] = self.overdue_days
        return data


@dataclass(frozen=True)
class MarksMade:
    """What was already recorded for `deadline`; stored as the order's `supervision` JSON."""

    deadline: datetime | None = None
    kinds: frozenset[MarkKind] = frozenset()
    overdue_days: int | None = None

    def for_deadline(self, deadline: datetime) -> MarksMade:
        """Marks made for another deadline do not count for this one."""
        return self if self.deadline == deadline else MarksMade(deadline)

    def record(self, marks: Iterable[Mark]) -> MarksMade:
        made = self
        for mark in marks:
            made = made.for_deadline(mark.deadline)
            days = made.overdue_days
            if mark.kind == "overdue":
                days = max(days or 0, mark.overdue_days)
            made = MarksMade(mark.deadline, made.kinds | {mark.kind}, days)
        return made

    def to_json(self) -> dict[str, Any]:
        return {
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "marks": [k for k in KINDS if k in self.kinds],
            "overdue_days": self.overdue_days,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> MarksMade:
        if not data or not data.get("deadline"):
            return cls()
        kinds = frozenset(k for k in KINDS if k in data.get("marks", ()))
        days = data.get("overdue_days")
        return cls(
            datetime.fromisoformat(data["deadline"]), kinds, None if days is None else int(days)
        )


@dataclass(frozen=True)
class Schedule:
    """When each mark falls for the deadline that counts (for a supervision board)."""

    deadline: datetime
    warn_at: datetime | None
    urge_at: datetime
    supervise_at: datetime


def schedule(
    sla: SlaDeadlines, calendar: WorkingCalendar, rules: SupervisionRules
) -> Schedule | None:
    """None when the order has no resolve deadline."""
    deadline = effective_due(sla)
    if deadline is None:
        return None
    deadline = _aware(deadline)
    due_day = _local_day(deadline)
    warn_at = min(_aware(sla.warn_at), deadline) if sla.warn_at else None
    urge_at = min(_at(due_day, rules.urge_time), deadline)
    if warn_at is not None:
        urge_at = max(urge_at, warn_at)
    supervise_at = deadline
    if rules.supervise_after_working_days > 0:
        day = due_day
        for _ in range(rules.supervise_after_working_days):
            day = calendar.next_working_day(day)
        supervise_at = calendar.day_start(day)
    return Schedule(deadline, warn_at, urge_at, supervise_at)


def due_marks(
    sla: SlaDeadlines,
    made: MarksMade,
    now: datetime,
    calendar: WorkingCalendar,
    rules: SupervisionRules,
) -> list[Mark]:
    """The marks to record now, in the order they fell due; [] when nothing is due."""
    plan = schedule(sla, calendar, rules)
    if plan is None:
        return []
    now = _aware(now)
    deadline = plan.deadline
    done = made.for_deadline(deadline)
    due: list[Mark] = []
    if (
        plan.warn_at is not None
        and plan.warn_at <= now < deadline
        and "warned" not in done.kinds
        and "urged" not in done.kinds
    ):
        due.append(Mark("warned", plan.warn_at, deadline))
    if plan.urge_at <= now < plan.supervise_at and "urged" not in done.kinds:
        due.append(Mark("urged", plan.urge_at, deadline))
    if now > deadline:
        days = max(0, calendar.working_days_between(deadline, now))
        if "overdue" not in done.kinds or days > (done.overdue_days or 0):
            due.append(Mark("overdue", _overdue_since(calendar, deadline, days), deadline, days))
    if plan.supervise_at <= now and now > deadline and "supervised" not in done.kinds:
        due.append(Mark("supervised", plan.supervise_at, deadline))
    return sorted(due, key=lambda m: (m.due_at, _ORDER[m.kind]))


def overdue_working_days(sla: SlaDeadlines, calendar: WorkingCalendar, at: datetime) -> int | None:
    """Overdue working days at `at` (e.g. when resolved, for KPIs); None if not overdue."""
    deadline = effective_due(sla)
    if deadline is None or _aware(at) <= deadline:
        return None
    return max(0, calendar.working_days_between(deadline, at))


def _overdue_since(calendar: WorkingCalendar, deadline: datetime, days: int) -> datetime:
    """When the count reached `days`: the deadline, or the local midnight starting the
    days-th working day after the due date."""
    if days == 0:
        return deadline
    day = _local_day(deadline)
    for _ in range(days):
        day = calendar.next_working_day(day)
    return _at(day, time(0, 0))


def _local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL_ZONE).date()


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LOCAL_ZONE).astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"须为带时区的时间 (an aware datetime is required): {moment.isoformat()}")
    return moment.astimezone(UTC)
