"""The SLA clock the workflow rules ask: policies/sla.yaml over the working-day calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from hub.config import get_settings
from hub.model.work_order import Assignment, SlaDeadlines, WorkOrder
from hub.workflow import sla
from hub.workflow.calendar import WorkingCalendar, load_calendar
from hub.workflow.sla import SlaPolicy, load_sla_policy

RECENT_DEADLINES = 256


@dataclass(frozen=True)
class PolicyClock:
    """Implements hub.workflow.actions.SlaClock."""

    policy: SlaPolicy
    calendar: WorkingCalendar
    #: Deadlines by (type, urgency, received, dispatched): the orders of one intake batch
    #: share both moments, so a batch walks the calendar once per kind of order.
    _recent: dict[tuple[object, ...], SlaDeadlines] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def deadlines(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        key = (order.appeal_type, order.urgency, order.created_at, now)
        fresh = self._recent.get(key)
        if fresh is None:
            if len(self._recent) >= RECENT_DEADLINES:
                self._recent.clear()
            fresh = self._recent[key] = sla.deadlines(
                self.policy,
                self.calendar,
                order.appeal_type,
                order.urgency,
                order.created_at,
                dispatched_at=now,
            )
        return fresh.model_copy(
            update={
                "response_due": order.sla.response_due or fresh.response_due,
                "responded_at": order.sla.responded_at,
            }
        )

    def extend(self, order: WorkOrder, days: int, now: datetime) -> SlaDeadlines:
        return sla.extend(
            self.policy, self.calendar, order.sla, order.appeal_type, order.urgency, days, now
        )

    def return_allowed(self, order: WorkOrder, assignment: Assignment, now: datetime) -> bool:
        earlier = sum(
            a.return_count for a in order.assignments if a.unit_code == assignment.unit_code
        )
        decision = sla.return_allowed(
            self.policy,
            self.calendar,
            order.appeal_type,
            order.urgency,
            assignment.dispatched_at or now,
            now,
            earlier,
        )
        return bool(decision)

    def reassigned(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        return sla.after_reassign(
            self.policy, self.calendar, order.sla, order.appeal_type, order.urgency, now
        )

    def reopened(self, order: WorkOrder, now: datetime) -> SlaDeadlines:
        return sla.reopen_deadlines(
            self.policy, self.calendar, order.sla, order.appeal_type, order.urgency, now
        )


@lru_cache(maxsize=4)
def clock_from(policies_dir: Path) -> PolicyClock:
    return PolicyClock(
        load_sla_policy(policies_dir / "sla.yaml"), load_calendar(policies_dir / "calendars")
    )


def default_clock() -> PolicyClock:
    """The clock of the configured policies (HUB_POLICIES_DIR), loaded once per process."""
    return clock_from(get_settings().policies_dir)
