"""Supervision marks (预警/催办/督办/超期): when they fall, in order, and never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.model.base import LOCAL_ZONE
from hub.model.codes import AppealType, EventAction, Urgency
from hub.model.work_order import SlaDeadlines
from hub.workflow.calendar import load_calendar
from hub.workflow.sla import SupervisionRules, deadlines, extend, load_sla_policy
from hub.workflow.supervision import (
    Mark,
    MarksMade,
    due_marks,
    overdue_working_days,
    schedule,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
CAL = load_calendar(POLICIES / "calendars")
POLICY = load_sla_policy(POLICIES / "sla.yaml")
RULES = POLICY.supervision


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_ZONE)


def scenario_five() -> SlaDeadlines:
    """A complaint received on Friday 2026-09-18 at 10:00, promised in 5 working days."""
    return deadlines(POLICY, CAL, AppealType.COMPLAINT, Urgency.NORMAL, local(2026, 9, 18, 10))


def sweep(
    sla: SlaDeadlines, start: datetime, end: datetime, step: timedelta, made: MarksMade
) -> tuple[list[tuple[datetime, Mark]], MarksMade]:
    """Run the supervisor sweep every `step`, recording what it marks, as the service will."""
    log: list[tuple[datetime, Mark]] = []
    now = start
    while now <= end:
        marks = due_marks(sla, made, now, CAL, RULES)
        log += [(now, m) for m in marks]
        made = made.record(marks)
        assert due_marks(sla, made, now, CAL, RULES) == []  # idempotent at once
        now += step
    return log, made


def test_scenario_five_overdue_and_supervised() -> None:
    """Warning when most of the time has passed, urging on the due day, escalation after
    it; overdue days counted in working days, skipping Mid-Autumn and National Day."""
    sla = scenario_five()
    assert sla.resolve_due == local(2026, 9, 24, 17, 30)  # Sat off, Sun 9/20 worked
    plan = schedule(sla, CAL, RULES)
    assert plan is not None
    assert plan.warn_at == local(2026, 9, 23, 16)
    assert plan.urge_at == local(2026, 9, 24, 9)
    assert plan.supervise_at == local(2026, 9, 28, 8, 30)  # after the Mid-Autumn break

    log, made = sweep(
        sla, local(2026, 9, 18, 10), local(2026, 10, 9, 12), timedelta(minutes=30), MarksMade()
    )
    seen = [
        (at.astimezone(LOCAL_ZONE).strftime("%m-%d %H:%M"), m.kind, m.overdue_days) for at, m in log
    ]
    assert seen == [
        ("09-23 16:00", "warned", 0),
        ("09-24 09:00", "urged", 0),
        ("09-24 18:00", "overdue", 0),  # past 17:30, no whole working day yet
        ("09-28 00:00", "overdue", 1),  # 9/25–27 are holidays: Monday is day 1
        ("09-28 08:30", "supervised", 0),
        ("09-29 00:00", "overdue", 2),
        ("09-30 00:00", "overdue", 3),
        ("10-08 00:00", "overdue", 4),  # National Day does not count
        ("10-09 00:00", "overdue", 5),
    ]
    assert made.deadline == sla.resolve_due
    assert made.kinds == {"warned", "urged", "supervised", "overdue"}
    assert made.overdue_days == 5
    # The KPI figure when the unit finally resolves it on Friday 10/9.
    assert overdue_working_days(sla, CAL, local(2026, 10, 9, 11)) == 5


def test_marks_carry_their_event_action_and_data() -> None:
    sla = scenario_five()
    marks = due_marks(sla, MarksMade(), local(2026, 9, 28, 9), CAL, RULES)
    assert [(m.kind, m.action) for m in marks] == [
        ("overdue", EventAction.OVERDUE),
        ("supervised", EventAction.SUPERVISED),
    ]
    overdue = marks[0]
    assert overdue.event_data() == {
        "deadline": "2026-09-24T09:30:00+00:00",
        "due_at": "2026-09-27T16:00:00+00:00",
        "overdue_days": 1,
    }
    assert "overdue_days" not in marks[1].event_data()


def test_a_late_sweep_skips_superseded_marks() -> None:
    sla = scenario_five()
    # First run only on Tuesday 9/29: warning and urging are pointless by now.
    marks = due_marks(sla, MarksMade(), local(2026, 9, 29, 10), CAL, RULES)
    assert [(m.kind, m.due_at, m.overdue_days) for m in marks] == [
        ("supervised", local(2026, 9, 28, 8, 30), 0),
        ("overdue", local(2026, 9, 29), 2),
    ]
    # A run on the due day after the urging time catches up the warning first.
    marks = due_marks(sla, MarksMade(), local(2026, 9, 24, 10), CAL, RULES)
    assert [m.kind for m in marks] == ["warned", "urged"]
    # Nothing before the warning point.
    assert due_marks(sla, MarksMade(), local(2026, 9, 23, 15, 59), CAL, RULES) == []


def test_overdue_is_due_again_only_when_the_count_grows() -> None:
    sla = scenario_five()
    made = MarksMade().record(due_marks(sla, MarksMade(), local(2026, 9, 28, 9), CAL, RULES))
    assert made.overdue_days == 1
    assert due_marks(sla, made, local(2026, 9, 28, 17), CAL, RULES) == []
    assert due_marks(sla, made, local(2026, 9, 28, 23, 59), CAL, RULES) == []
    again = due_marks(sla, made, local(2026, 10, 7, 12), CAL, RULES)  # holidays since 9/30
    assert [(m.kind, m.overdue_days) for m in again] == [("overdue", 3)]


def test_an_extension_starts_a_new_cycle() -> None:
    sla = scenario_five()
    made = MarksMade().record(due_marks(sla, MarksMade(), local(2026, 9, 23, 17), CAL, RULES))
    assert made.kinds == {"warned"}
    longer = extend(
        POLICY, CAL, sla, AppealType.COMPLAINT, Urgency.NORMAL, 3, local(2026, 9, 23, 17, 5)
    )
    assert longer.extended_until == local(2026, 9, 30, 17, 30)
    # The old warning was for the old deadline; on the old due day nothing is due now.
    assert due_marks(longer, made, local(2026, 9, 24, 18), CAL, RULES) == []
    plan = schedule(longer, CAL, RULES)
    assert plan is not None and plan.deadline == local(2026, 9, 30, 17, 30)
    assert plan.warn_at == local(2026, 9, 30, 10, 13)  # 80 % of 2185 office minutes
    marks = due_marks(longer, made, local(2026, 9, 30, 10, 30), CAL, RULES)
    assert [m.kind for m in marks] == ["warned", "urged"]
    assert all(m.deadline == longer.extended_until for m in marks)


def test_supervision_at_the_deadline_when_configured() -> None:
    rules = SupervisionRules(supervise_after_working_days=0, urge_time=RULES.urge_time)
    sla = scenario_five()
    plan = schedule(sla, CAL, rules)
    assert plan is not None and plan.supervise_at == local(2026, 9, 24, 17, 30)
    marks = due_marks(sla, MarksMade(), local(2026, 9, 24, 17, 31), CAL, rules)
    assert [m.kind for m in marks] == ["overdue", "supervised"]  # urging came too late
    two_days = SupervisionRules(supervise_after_working_days=2)
    plan = schedule(sla, CAL, two_days)
    assert plan is not None and plan.supervise_at == local(2026, 9, 29, 8, 30)


def test_urging_never_before_the_warning_nor_after_the_deadline() -> None:
    # Same-day order received at 10:00 on Monday: warning at 80 % of the day, after 09:00.
    sla = deadlines(
        POLICY, CAL, AppealType.HELP, Urgency.URGENT, local(2026, 9, 21, 10)
    ).model_copy(update={"resolve_due": local(2026, 9, 21, 17, 30)})
    plan = schedule(sla, CAL, RULES)
    assert plan is not None and plan.warn_at is not None
    assert plan.urge_at == plan.warn_at
    # A critical order due at 10:00 natural time: urging at 09:00 on that day is fine,
    # one due at 03:00 is urged at its deadline at the latest.
    night = SlaDeadlines(resolve_due=local(2026, 10, 2, 3), warn_at=local(2026, 10, 1, 15))
    plan = schedule(night, CAL, RULES)
    assert plan is not None and plan.urge_at == local(2026, 10, 2, 3)


def test_orders_without_a_deadline_have_no_marks() -> None:
    assert schedule(SlaDeadlines(), CAL, RULES) is None
    assert due_marks(SlaDeadlines(), MarksMade(), local(2026, 9, 28), CAL, RULES) == []
    assert overdue_working_days(SlaDeadlines(), CAL, local(2026, 9, 28)) is None


def test_overdue_working_days_for_kpis() -> None:
    sla = scenario_five()
    assert overdue_working_days(sla, CAL, local(2026, 9, 24, 17)) is None
    assert overdue_working_days(sla, CAL, local(2026, 9, 24, 17, 30)) is None
    assert overdue_working_days(sla, CAL, local(2026, 9, 26, 12)) == 0
    assert overdue_working_days(sla, CAL, local(2026, 9, 28, 10)) == 1


def test_marks_made_round_trip_through_json() -> None:
    sla = scenario_five()
    made = MarksMade().record(due_marks(sla, MarksMade(), local(2026, 9, 29, 10), CAL, RULES))
    data = made.to_json()
    assert data == {
        "deadline": "2026-09-24T09:30:00+00:00",
        "marks": ["supervised", "overdue"],
        "overdue_days": 2,
    }
    assert MarksMade.from_json(data) == made
    assert MarksMade.from_json(None) == MarksMade()
    assert MarksMade.from_json({}) == MarksMade()
    assert MarksMade().to_json() == {"deadline": None, "marks": [], "overdue_days": None}


sweep_times = st.lists(
    st.datetimes(
        min_value=datetime(2026, 9, 18, 2), max_value=datetime(2026, 10, 20), timezones=st.just(UTC)
    ),
    min_size=1,
    max_size=25,
)


@settings(deadline=None)
@given(times=sweep_times)
def test_any_sweep_schedule_marks_each_stage_once_and_in_order(times: list[datetime]) -> None:
    sla = scenario_five()
    made = MarksMade()
    recorded: list[Mark] = []
    for now in sorted(times):
        marks = due_marks(sla, made, now, CAL, RULES)
        assert marks == sorted(marks, key=lambda m: m.due_at)
        assert all(m.due_at <= now for m in marks)
        made = made.record(marks)
        recorded += marks
        assert due_marks(sla, made, now, CAL, RULES) == []
    kinds = [m.kind for m in recorded if m.kind != "overdue"]
    assert len(kinds) == len(set(kinds))
    stage = {"warned": 0, "urged": 1, "supervised": 2}
    assert kinds == sorted(kinds, key=stage.__getitem__)
    overdue = [m.overdue_days for m in recorded if m.kind == "overdue"]
    assert overdue == sorted(set(overdue))
    if max(times) > local(2026, 9, 24, 17, 30):
        assert made.overdue_days == overdue_working_days(sla, CAL, max(times))
