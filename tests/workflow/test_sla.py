"""SLA clock: deadlines per rule, extension once and capped, return window, restart or
continue after reassignment, reopening, and policy-file errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.model.base import LOCAL_ZONE
from hub.model.codes import AppealType, Urgency
from hub.model.work_order import SlaDeadlines, WorkOrder
from hub.services.clock import PolicyClock
from hub.workflow.calendar import load_calendar
from hub.workflow.sla import (
    SlaError,
    SlaPolicy,
    TimeLimit,
    after_dispatch,
    after_reassign,
    deadlines,
    effective_due,
    extend,
    load_sla_policy,
    reopen_deadlines,
    return_allowed,
)
from hub.yamlconf import ConfigError

POLICIES = Path(__file__).resolve().parents[2] / "policies"
CAL = load_calendar(POLICIES / "calendars")
POLICY = load_sla_policy(POLICIES / "sla.yaml")
A, U = AppealType, Urgency


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_ZONE)


def policy(**defaults: Any) -> SlaPolicy:
    return SlaPolicy.model_validate({"defaults": defaults})


def complaint(received: datetime, pol: SlaPolicy = POLICY) -> SlaDeadlines:
    return deadlines(pol, CAL, A.COMPLAINT, U.NORMAL, received)


def extended(sla: SlaDeadlines, days: int, at: datetime, pol: SlaPolicy = POLICY) -> SlaDeadlines:
    return extend(pol, CAL, sla, A.COMPLAINT, U.NORMAL, days, at)


# --- rules ----------------------------------------------------------------------------------


def test_shipped_rules_layer_from_general_to_specific() -> None:
    normal = POLICY.rule_for(A.COMPLAINT, U.NORMAL)
    assert normal.resolve == TimeLimit(working_days=5)
    assert normal.extension.max_count == 1 and normal.extension.max_working_days == 10
    assert normal.return_window_working_days == 2 and normal.on_reassign == "restart"
    assert POLICY.rule_for(A.CONSULTATION, U.NORMAL).resolve == TimeLimit(working_days=1)
    assert POLICY.rule_for(A.SUGGESTION, U.NORMAL).resolve == TimeLimit(working_days=13)
    # Urgency rules override the type's limits but keep what they do not mention.
    urgent = POLICY.rule_for(A.SUGGESTION, U.URGENT)
    assert urgent.resolve == TimeLimit(working_days=1) and urgent.warn_fraction == 0.7
    critical = POLICY.rule_for(A.COMPLAINT, U.CRITICAL)
    assert critical.resolve == TimeLimit(minutes=1440) and critical.sign == TimeLimit(minutes=30)
    assert critical.on_reassign == "continue" and critical.return_window_working_days == 2


def test_a_rule_with_both_keys_beats_the_single_key_rules() -> None:
    pol = SlaPolicy.model_validate(
        {
            "rules": [
                {"appeal_type": "report", "urgency": "urgent", "resolve": {"working_days": 2}},
                {"urgency": "urgent", "resolve": {"working_days": 1}, "warn_fraction": 0.6},
                {"appeal_type": "report", "resolve": {"working_days": 10}},
            ]
        }
    )
    rule = pol.rule_for(A.REPORT, U.URGENT)
    assert rule.resolve == TimeLimit(working_days=2) and rule.warn_fraction == 0.6
    assert pol.rule_for(A.HELP, U.URGENT).resolve == TimeLimit(working_days=1)
    assert pol.rule_for(A.REPORT, U.NORMAL).resolve == TimeLimit(working_days=10)
    assert pol.rule_for(A.HELP, U.NORMAL).resolve == TimeLimit(working_days=5)


# --- deadlines ------------------------------------------------------------------------------


def test_complaint_before_mid_autumn_skips_the_weekend_and_counts_sunday() -> None:
    received = local(2026, 9, 18, 10)  # Friday
    sla = complaint(received)
    assert sla.response_due == local(2026, 9, 18, 10, 30)
    # Sat 9/19 off, Sun 9/20 make-up day (1), Mon–Thu (2–5).
    assert sla.resolve_due == local(2026, 9, 24, 17, 30)
    # 80 % of 3150 office minutes (Fri 450 + 5 × 540) = 2520 → Wednesday 16:00.
    assert sla.warn_at == local(2026, 9, 23, 16)
    assert sla.clock_started_at == received
    assert sla.sign_due is None and sla.extension_count == 0
    assert effective_due(sla) == sla.resolve_due
    assert sla.resolve_due is not None and sla.resolve_due.tzinfo is UTC


def test_complaint_around_the_spring_festival() -> None:
    sla = complaint(local(2026, 2, 12, 14))  # Thursday before the break
    # 2/13 (1), Sat 2/14 make-up (2), 2/15–23 off, 2/24 (3), 2/25 (4), 2/26 (5).
    assert sla.resolve_due == local(2026, 2, 26, 17, 30)
    # 80 % of 2910 office minutes = 2328: 210 + 540 + 540 + 540 leaves 498 on 2/25.
    assert sla.warn_at == local(2026, 2, 25, 16, 48)


def test_report_across_national_day() -> None:
    sla = deadlines(POLICY, CAL, A.REPORT, U.NORMAL, local(2026, 9, 30, 9))
    # 10/8, 10/9, Sat 10/10, 10/12–16, 10/19, 10/20 = 10 working days.
    assert sla.resolve_due == local(2026, 10, 20, 17, 30)


def test_consultation_received_on_saturday_is_due_next_working_day() -> None:
    sla = deadlines(POLICY, CAL, A.CONSULTATION, U.NORMAL, local(2026, 3, 7, 20))
    assert sla.resolve_due == local(2026, 3, 9, 17, 30)
    assert sla.response_due == local(2026, 3, 7, 20, 30)  # the hotline is 7×24


def test_critical_runs_in_natural_time_through_a_holiday() -> None:
    received = local(2026, 10, 1, 10)
    sla = deadlines(
        POLICY, CAL, A.HELP, U.CRITICAL, received, dispatched_at=received + timedelta(minutes=5)
    )
    assert sla.resolve_due == local(2026, 10, 2, 10)
    assert sla.warn_at == local(2026, 10, 1, 22)  # half of the 24 hours
    assert sla.sign_due == local(2026, 10, 1, 10, 35)


def test_sign_due_counts_office_hours_from_dispatch() -> None:
    sla = complaint(local(2026, 9, 18, 9))
    signed = after_dispatch(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, local(2026, 9, 18, 16, 30))
    # One office hour on Friday, the second on Sunday 9/20 (a make-up day).
    assert signed.sign_due == local(2026, 9, 20, 9, 30)
    urgent = after_dispatch(POLICY, CAL, sla, A.COMPLAINT, U.URGENT, local(2026, 9, 18, 17))
    assert urgent.sign_due == local(2026, 9, 20, 9)
    assert signed.resolve_due == sla.resolve_due


def test_deadlines_need_aware_times() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        complaint(datetime(2026, 9, 18, 10))


# --- extension ------------------------------------------------------------------------------


def test_extension_once_added_to_the_deadline() -> None:
    sla = complaint(local(2026, 9, 18, 10))
    at = local(2026, 9, 22, 15)
    longer = extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 3, at)
    assert longer.resolve_due == sla.resolve_due  # the original stays for the record
    assert longer.extended_until == local(2026, 9, 30, 17, 30)  # 9/28, 9/29, 9/30
    assert effective_due(longer) == longer.extended_until
    assert longer.extension_count == 1
    assert longer.warn_at is not None and at < longer.warn_at < local(2026, 9, 30, 17, 30)
    with pytest.raises(SlaError) as caught:
        extend(POLICY, CAL, longer, A.COMPLAINT, U.NORMAL, 1, local(2026, 9, 23, 9))
    assert caught.value.code == "extension_limit"
    assert str(caught.value) == "延期只能申请一次 (an order may be extended only once)"


def test_extension_is_capped_and_at_least_one_day() -> None:
    sla = complaint(local(2026, 9, 18, 10))
    at = local(2026, 9, 21, 10)
    most = extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 10, at)
    # 9/28–30, 10/8, 10/9, Sat 10/10, 10/12–15 = 10 working days after 9/24.
    assert most.extended_until == local(2026, 10, 15, 17, 30)
    with pytest.raises(SlaError) as caught:
        extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 11, at)
    assert caught.value.code == "extension_cap"
    assert "延期不得超过 10 个工作日" in str(caught.value)
    assert "capped at 10 working days" in str(caught.value)
    with pytest.raises(SlaError, match="at least 1 working day"):
        extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 0, at)


def test_extension_must_be_asked_before_the_deadline_unless_policy_says_otherwise() -> None:
    sla = complaint(local(2026, 9, 18, 10))
    late = local(2026, 9, 28, 9)
    with pytest.raises(SlaError) as caught:
        extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 2, late)
    assert caught.value.code == "extension_late"
    assert "期限届满前" in caught.value.message
    lenient = policy(extension={"before_deadline_only": False})
    sla = complaint(local(2026, 9, 18, 10), lenient)
    assert extended(sla, 2, late, lenient).extended_until == local(2026, 9, 29, 17, 30)


def test_two_extensions_share_one_cap_when_policy_allows_two() -> None:
    pol = policy(extension={"max_count": 2, "max_working_days": 10})
    sla = complaint(local(2026, 9, 18, 10), pol)
    first = extend(pol, CAL, sla, A.COMPLAINT, U.NORMAL, 6, local(2026, 9, 22, 9))
    assert first.extended_until == local(2026, 10, 10, 17, 30)
    with pytest.raises(SlaError) as caught:
        extend(pol, CAL, first, A.COMPLAINT, U.NORMAL, 5, local(2026, 10, 9, 9))
    assert caught.value.code == "extension_cap" and "已延期 6 个工作日" in caught.value.message
    second = extend(pol, CAL, first, A.COMPLAINT, U.NORMAL, 4, local(2026, 10, 9, 9))
    assert second.extended_until == local(2026, 10, 15, 17, 30)
    assert second.extension_count == 2
    with pytest.raises(SlaError, match="at most 2 times"):
        extend(pol, CAL, second, A.COMPLAINT, U.NORMAL, 1, local(2026, 10, 12, 9))


def test_no_extension_when_policy_forbids_or_no_deadline() -> None:
    pol = policy(extension={"max_count": 0})
    with pytest.raises(SlaError, match="not allowed"):
        extended(complaint(local(2026, 9, 18, 10), pol), 1, local(2026, 9, 21, 9), pol)
    with pytest.raises(SlaError) as caught:
        extend(POLICY, CAL, SlaDeadlines(), A.COMPLAINT, U.NORMAL, 1, local(2026, 9, 21, 9))
    assert caught.value.code == "no_deadline"


# --- return and reassignment (scenario 4) ---------------------------------------------------


def test_return_window_is_two_working_days_after_dispatch() -> None:
    dispatched = local(2026, 9, 18, 10)  # Friday; Sunday 9/20 is worked
    ok = return_allowed(POLICY, CAL, A.COMPLAINT, U.NORMAL, dispatched, local(2026, 9, 21, 17))
    assert ok and ok.allowed and ok.reason is None
    assert ok.window_ends == local(2026, 9, 21, 17, 30)
    late = return_allowed(POLICY, CAL, A.COMPLAINT, U.NORMAL, dispatched, local(2026, 9, 22, 9))
    assert not late and late.code == "return_window"
    assert late.reason is not None
    assert "2 个工作日" in late.reason and "within 2 working days of dispatch" in late.reason


def test_return_window_spans_national_day() -> None:
    dispatched = local(2026, 9, 30, 10)
    decision = return_allowed(POLICY, CAL, A.HELP, U.NORMAL, dispatched, local(2026, 10, 9, 16))
    assert decision.allowed and decision.window_ends == local(2026, 10, 9, 17, 30)


def test_the_same_unit_cannot_return_twice() -> None:
    decision = return_allowed(
        POLICY, CAL, A.COMPLAINT, U.NORMAL, local(2026, 9, 21, 9), local(2026, 9, 21, 10), 1
    )
    assert not decision.allowed and decision.code == "return_repeated"
    assert (
        decision.reason
        == "同一单位不能重复退回同一工单 (the same unit cannot return this order again)"
    )


def test_reassignment_restarts_the_clock_by_default() -> None:
    """Scenario 4: the housing bureau returns on Tuesday, reassigned at 11:00."""
    received = local(2026, 9, 18, 10)
    sla = complaint(received).model_copy(update={"responded_at": local(2026, 9, 18, 10, 5)})
    sla = extend(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, 2, local(2026, 9, 21, 9))
    at = local(2026, 9, 22, 11)
    after = after_reassign(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, at)
    assert after.clock_started_at == at
    assert after.resolve_due == local(2026, 9, 30, 17, 30)  # 9/23, 9/24, 9/28, 9/29, 9/30
    assert after.sign_due == local(2026, 9, 22, 13)
    assert after.extended_until is None and after.extension_count == 0
    assert after.warn_at is not None and at < after.warn_at < local(2026, 9, 30, 17, 30)
    assert after.response_due == sla.response_due and after.responded_at == sla.responded_at


def test_reassignment_continues_the_clock_when_the_rule_says_so() -> None:
    pol = policy(on_reassign="continue")
    sla = extended(complaint(local(2026, 9, 18, 10), pol), 2, local(2026, 9, 21, 9), pol)
    at = local(2026, 9, 22, 11)
    after = after_reassign(pol, CAL, sla, A.COMPLAINT, U.NORMAL, at)
    assert after.resolve_due == sla.resolve_due == local(2026, 9, 24, 17, 30)
    assert after.extended_until == sla.extended_until and after.extension_count == 1
    assert after.clock_started_at == local(2026, 9, 18, 10)
    assert after.sign_due == local(2026, 9, 22, 13)  # the new unit still signs in time
    # The shipped policy keeps critical orders' clock running.
    critical = deadlines(POLICY, CAL, A.COMPLAINT, U.CRITICAL, local(2026, 9, 18, 10))
    moved = after_reassign(POLICY, CAL, critical, A.COMPLAINT, U.CRITICAL, at)
    assert moved.resolve_due == critical.resolve_due == local(2026, 9, 19, 10)
    assert moved.sign_due == local(2026, 9, 22, 11, 30)


def test_continue_without_a_clock_starts_one() -> None:
    pol = policy(on_reassign="continue")
    after = after_reassign(pol, CAL, SlaDeadlines(), A.HELP, U.NORMAL, local(2026, 9, 21, 9))
    assert after.resolve_due == local(2026, 9, 29, 17, 30)  # 9/22–24, 9/28, 9/29


# --- reopening ------------------------------------------------------------------------------


def test_dissatisfied_revisit_gives_the_same_lead_a_new_round() -> None:
    sla = extended(complaint(local(2026, 9, 18, 10)), 2, local(2026, 9, 21, 9))
    at = local(2026, 10, 12, 10)
    again = reopen_deadlines(POLICY, CAL, sla, A.COMPLAINT, U.NORMAL, at)
    assert again.resolve_due == local(2026, 10, 19, 17, 30)  # 10/13–16, 10/19
    assert again.extension_count == 0 and again.extended_until is None
    assert again.clock_started_at == at
    assert again.response_due == sla.response_due
    shorter = policy(reopen={"working_days": 3})
    assert reopen_deadlines(shorter, CAL, sla, A.COMPLAINT, U.NORMAL, at).resolve_due == local(
        2026, 10, 15, 17, 30
    )


# --- every shipped combination, and properties ----------------------------------------------


@settings(deadline=None)
@given(
    appeal_type=st.sampled_from(list(AppealType)),
    urgency=st.sampled_from(list(Urgency)),
    received=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 9, 30), timezones=st.just(UTC)
    ),
)
def test_deadlines_are_ordered_for_every_rule(
    appeal_type: AppealType, urgency: Urgency, received: datetime
) -> None:
    sla = deadlines(POLICY, CAL, appeal_type, urgency, received, dispatched_at=received)
    assert sla.response_due == received + timedelta(minutes=30)
    assert sla.resolve_due is not None and sla.warn_at is not None and sla.sign_due is not None
    assert received < sla.resolve_due
    assert received <= sla.warn_at <= sla.resolve_due
    assert sla.sign_due > received
    rule = POLICY.rule_for(appeal_type, urgency)
    if rule.resolve.working_days:
        assert CAL.working_days_between(received, sla.resolve_due) == rule.resolve.working_days


# --- policy file errors ---------------------------------------------------------------------

GOOD = """\
supervision:
  urge_time: "09:00"
  supervise_after_working_days: 1
defaults:
  resolve:
    working_days: 5
rules:
  - appeal_type: complaint
    resolve:
      working_days: 5
  - urgency: critical
    resolve:
      minutes: 1440
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_containing(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_minimal_policy_loads(tmp_path: Path) -> None:
    pol = load_sla_policy(write(tmp_path, GOOD))
    assert pol.rule_for(A.COMPLAINT, U.CRITICAL).resolve == TimeLimit(minutes=1440)
    assert load_sla_policy(write(tmp_path, "")).rule_for(A.HELP, U.NORMAL).response_minutes == 30


CASES = [
    # (what, file text, field, text on the expected line, words in the message)
    (
        "unknown appeal type",
        GOOD.replace("appeal_type: complaint", "appeal_type: complain"),
        "rules[0].appeal_type",
        "appeal_type: complain",
        "complaint",
    ),
    (
        "two limits at once",
        GOOD.replace("      minutes: 1440", "      minutes: 1440\n      working_days: 1"),
        "rules[1].resolve",
        "minutes: 1440",
        "exactly one of",
    ),
    (
        "no limit given",
        GOOD.replace("  resolve:\n    working_days: 5\n", "  resolve: {}\n"),
        "defaults.resolve",
        "resolve: {}",
        "exactly one of",
    ),
    (
        "warning point not a fraction",
        GOOD.replace("      minutes: 1440", "      minutes: 1440\n    warn_fraction: 1.5"),
        "rules[1].warn_fraction",
        "warn_fraction: 1.5",
        "less than 1",
    ),
    (
        "unknown clock mode",
        GOOD + "    on_reassign: pause\n",
        "rules[1].on_reassign",
        "on_reassign: pause",
        "restart",
    ),
    (
        "unquoted urging time read as a number",
        GOOD.replace('urge_time: "09:00"', "urge_time: 10:30"),
        "supervision.urge_time",
        "urge_time: 10:30",
        '"HH:MM"',
    ),
    (
        "negative working days",
        GOOD.replace("    working_days: 5\nrules", "    working_days: -1\nrules"),
        "defaults.resolve.working_days",
        "working_days: -1",
        "greater than or equal to 0",
    ),
    (
        "rule that matches nothing in particular",
        GOOD.replace("  - urgency: critical\n", "  - note: everything\n"),
        "rules[1]",
        "note: everything",
        "appeal_type or urgency",
    ),
    (
        "duplicate rule",
        GOOD + "  - appeal_type: complaint\n    resolve: {working_days: 7}\n",
        "rules[2]",
        "resolve: {working_days: 7}",
        "duplicate of rule 1",
    ),
    (
        "a limit emptied by a rule",
        GOOD + "    sign: null\n",
        "rules[1].sign",
        "sign: null",
        "must not be empty",
    ),
    (
        "a date YAML cannot build",
        GOOD.replace("  - urgency: critical\n", "  - urgency: critical\n    note: 2026-13-01\n"),
        "rules[1].note",
        "note: 2026-13-01",
        "invalid date",
    ),
    (
        "misspelt field",
        GOOD.replace("    resolve:\n      working_days: 5", "    resolv:\n      working_days: 5"),
        "rules[0].resolv",
        "resolv:",
        "Extra inputs are not permitted",
    ),
]


OFFSETS = {"duplicate rule": -1, "misspelt field": 1}


@pytest.mark.parametrize(
    ("what", "text", "field", "needle", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_config_errors_name_file_line_and_field(
    tmp_path: Path, what: str, text: str, field: str, needle: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_sla_policy(path)
    error = caught.value
    assert error.path == str(path)
    assert error.field == field
    # hub.yamlconf gives a mapping's line as its first key's: the rule's "- appeal_type"
    # line for a whole rule, the line under a key for a misspelt key's value.
    expected = line_containing(text, needle) + OFFSETS.get(what, 0)
    assert error.line == expected
    assert words in error.message
    assert f"sla.yaml:{error.line}: {field}:" in str(error)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_sla_policy(tmp_path / "sla.yaml")


def stored(appeal: str, urgency: str, received: datetime, response_due: datetime) -> WorkOrder:
    return WorkOrder.model_validate(
        {
            "wo_no": "JK202510010000001",
            "status": "received",
            "origin": {"channel": "app"},
            "appeal_type": appeal,
            "urgency": urgency,
            "title": "t",
            "content": "c",
            "requester": {"anonymous": True},
            "sla": {"response_due": response_due},
            "created_at": received,
            "updated_at": received,
        }
    )


def test_the_clock_gives_each_order_its_own_deadlines_however_many_share_a_batch() -> None:
    """Orders of one intake batch share their moments, and the clock reuses the calendar
    walk; each still gets what the rules give it, with its own response deadline."""
    clock = PolicyClock(POLICY, CAL)
    received, now = local(2026, 9, 30, 16), local(2026, 9, 30, 16, 5)
    kinds = [("complaint", "normal"), ("consultation", "normal"), ("complaint", "urgent")]
    for round_ in range(3):
        for appeal, urgency in kinds:
            due = received + timedelta(minutes=30 + round_)
            found = clock.deadlines(stored(appeal, urgency, received, due), now)
            rules = deadlines(POLICY, CAL, A(appeal), U(urgency), received, dispatched_at=now)
            assert found == rules.model_copy(update={"response_due": due})
