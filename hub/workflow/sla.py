"""SLA clock (办理时限): deadlines per appeal type and urgency, extension, return, reopen.

Time limits are local policy (DOMAIN.md §2: no national number), so every number lives in
`policies/sla.yaml`; this module only does the arithmetic, on the working-day calendar.
All functions are pure: they take the current `SlaDeadlines` and return a new one.

Clock semantics:
- the resolve clock starts at receipt (`clock_started_at`); the response target counts
  natural minutes from receipt; the sign target counts from each dispatch;
- a rule `on_reassign: restart` gives the new unit the full limit again from the moment
  of reassignment (and a fresh extension allowance); `continue` keeps the order's
  deadline (and any extension) as it was, only the new unit's sign deadline is new;
- a dissatisfied revisit (重办) starts a new round for the same lead: a new resolve
  deadline from the reopening, a fresh extension allowance;
- the warning point is a fraction of the allowed office time (natural time when the
  limit itself is in natural minutes), so a holiday inside the limit does not pull the
  warning into the holiday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.model.codes import AppealType, Urgency
from hub.model.work_order import SlaDeadlines
from hub.workflow.calendar import ClockTime, WorkingCalendar, add_minutes, load_policy
from hub.yamlconf import ConfigError, field_path, line_of

ReassignMode = Literal["restart", "continue"]


class SlaError(ValueError):
    """An SLA action the policy does not allow; `code` is stable for APIs and tests."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TimeLimit(_Strict):
    """Exactly one of: natural minutes (7×24), office hours, or working days."""

    minutes: int | None = Field(default=None, ge=1)
    working_hours: float | None = Field(default=None, gt=0, le=1000)
    working_days: int | None = Field(default=None, ge=0, le=366)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimeLimit:
        given = [v for v in (self.minutes, self.working_hours, self.working_days) if v is not None]
        if len(given) != 1:
            raise ValueError(
                "须且只能填写 minutes、working_hours、working_days 之一 "
                "(give exactly one of minutes, working_hours, working_days)"
            )
        return self

    @property
    def natural(self) -> bool:
        return self.minutes is not None

    def due(self, calendar: WorkingCalendar, start: datetime) -> datetime:
        if self.minutes is not None:
            return add_minutes(start, self.minutes)
        if self.working_hours is not None:
            return calendar.add_working_minutes(start, round(self.working_hours * 60))
        assert self.working_days is not None
        return calendar.add_working_days(start, self.working_days)


class ExtensionRule(_Strict):
    max_count: int = Field(default=1, ge=0, le=10)
    max_working_days: int = Field(default=10, ge=1, le=366)
    before_deadline_only: bool = True


class SlaRule(_Strict):
    """The resolved time rules for one appeal type and urgency."""

    response_minutes: int = Field(default=30, ge=1)
    sign: TimeLimit = TimeLimit(working_hours=2)
    resolve: TimeLimit = TimeLimit(working_days=5)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    extension: ExtensionRule = ExtensionRule()
    return_window_working_days: int = Field(default=2, ge=0, le=366)
    max_returns_per_unit: int = Field(default=1, ge=0, le=10)
    on_reassign: ReassignMode = "restart"
    reopen: TimeLimit | None = None  # None: the same limit as `resolve`


_MATCH_KEYS = frozenset({"appeal_type", "urgency", "note"})
_NULLABLE = frozenset({"reopen"})


class RuleOverride(_Strict):
    """A rule in the file: which orders it matches, and the fields it changes."""

    appeal_type: AppealType | None = None
    urgency: Urgency | None = None
    note: str | None = None
    response_minutes: int | None = Field(default=None, ge=1)
    sign: TimeLimit | None = None
    resolve: TimeLimit | None = None
    warn_fraction: float | None = Field(default=None, gt=0, lt=1)
    extension: ExtensionRule | None = None
    return_window_working_days: int | None = Field(default=None, ge=0, le=366)
    max_returns_per_unit: int | None = Field(default=None, ge=0, le=10)
    on_reassign: ReassignMode | None = None
    reopen: TimeLimit | None = None

    @property
    def specificity(self) -> int:
        """Later layers win: appeal type only (1) < urgency only (2) < both (3)."""
        return (1 if self.appeal_type else 0) + (2 if self.urgency else 0)

    def matches(self, appeal_type: AppealType, urgency: Urgency) -> bool:
        return (self.appeal_type in (None, appeal_type)) and (self.urgency in (None, urgency))

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set - _MATCH_KEYS}


class SupervisionRules(_Strict):
    """When 催办 and 督办 fall, relative to the resolve deadline."""

    urge_time: ClockTime = time(9, 0)
    supervise_after_working_days: int = Field(default=1, ge=0, le=30)
    #: The office that receives escalations (督办), e.g. the district's 党政办.
    supervising_unit: str = Field(default="JKQ-DZB", pattern=r"^[A-Z][A-Z0-9-]{1,31}$")


class SlaPolicy(_Strict):
    """`policies/sla.yaml`."""

    supervision: SupervisionRules = SupervisionRules()
    defaults: SlaRule = SlaRule()
    rules: list[RuleOverride] = Field(default_factory=list)

    def rule_for(self, appeal_type: AppealType, urgency: Urgency) -> SlaRule:
        """Defaults, then the matching rules from least to most specific, field by field."""
        merged = self.defaults
        layers = sorted(
            (r for r in self.rules if r.matches(appeal_type, urgency)),
            key=lambda r: r.specificity,
        )
        for layer in layers:
            merged = merged.model_copy(update=layer.changes())
        return merged


def load_sla_policy(path: Path) -> SlaPolicy:
    """Load and check the file; every error names the file, the line and the field."""
    path = Path(path)
    policy, root = load_policy(path, SlaPolicy)

    def fail(loc: list[str | int], message: str) -> None:
        raise ConfigError(path, line_of(root, loc), field_path(loc), message)

    seen: dict[tuple[str | None, str | None], int] = {}
    for i, rule in enumerate(policy.rules):
        if rule.appeal_type is None and rule.urgency is None:
            fail(
                ["rules", i],
                "规则须指定 appeal_type 或 urgency (a rule needs appeal_type or urgency)",
            )
        key = (rule.appeal_type, rule.urgency)
        if key in seen:
            fail(
                ["rules", i],
                f"与第 {seen[key] + 1} 条规则重复 (duplicate of rule {seen[key] + 1})",
            )
        seen[key] = i
        for name in sorted(rule.model_fields_set - _MATCH_KEYS - _NULLABLE):
            if getattr(rule, name) is None:
                fail(["rules", i, name], "不能为空 (must not be empty)")
    return policy


# --- the clock ----------------------------------------------------------------------------


def effective_due(sla: SlaDeadlines) -> datetime | None:
    """The deadline that counts now: the extension's, else the resolve deadline."""
    return sla.extended_until or sla.resolve_due


def deadlines(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    appeal_type: AppealType,
    urgency: Urgency,
    received_at: datetime,
    *,
    dispatched_at: datetime | None = None,
) -> SlaDeadlines:
    """Deadlines for a new order, the clock starting at receipt (受理)."""
    rule = policy.rule_for(appeal_type, urgency)
    start = _utc(received_at)
    resolve_due = rule.resolve.due(calendar, start)
    return SlaDeadlines(
        response_due=add_minutes(start, rule.response_minutes),
        sign_due=rule.sign.due(calendar, dispatched_at) if dispatched_at else None,
        resolve_due=resolve_due,
        warn_at=_warn_at(calendar, start, resolve_due, rule.warn_fraction, rule.resolve.natural),
        clock_started_at=start,
    )


def after_dispatch(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    sla: SlaDeadlines,
    appeal_type: AppealType,
    urgency: Urgency,
    dispatched_at: datetime,
) -> SlaDeadlines:
    """Set the sign deadline (签收时限) once the order is dispatched (派单)."""
    rule = policy.rule_for(appeal_type, urgency)
    return sla.model_copy(update={"sign_due": rule.sign.due(calendar, dispatched_at)})


def extend(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    sla: SlaDeadlines,
    appeal_type: AppealType,
    urgency: Urgency,
    working_days: int,
    at: datetime,
) -> SlaDeadlines:
    """Grant an extension (延期) of `working_days` added to the current deadline.

    Raises SlaError when the policy forbids it: too many extensions, more than the cap in
    total, or (by default) asked after the deadline has passed.
    """
    full = policy.rule_for(appeal_type, urgency)
    rule = full.extension
    current = effective_due(sla)
    if current is None or sla.resolve_due is None:
        raise SlaError("no_deadline", "工单尚无办理时限 (the order has no resolve deadline yet)")
    if sla.extension_count >= rule.max_count:
        raise SlaError("extension_limit", _count_message(rule.max_count))
    if working_days < 1:
        raise SlaError(
            "extension_days",
            "延期须至少 1 个工作日 (an extension must be at least 1 working day)",
        )
    used = max(0, calendar.working_days_between(sla.resolve_due, current))
    if used + working_days > rule.max_working_days:
        already = f"，已延期 {used} 个工作日" if used else ""
        already_en = f"; {used} already granted" if used else ""
        raise SlaError(
            "extension_cap",
            f"延期不得超过 {rule.max_working_days} 个工作日{already} "
            f"(extension capped at {rule.max_working_days} working days{already_en})",
        )
    if rule.before_deadline_only and _utc(at) > current:
        raise SlaError(
            "extension_late",
            "已超过办理时限，延期须在期限届满前申请 "
            "(the deadline has passed; an extension must be asked before it)",
        )
    until = calendar.add_working_days(current, working_days)
    return sla.model_copy(
        update={
            "extended_until": until,
            "extension_count": sla.extension_count + 1,
            "warn_at": _warn_at(calendar, _utc(at), until, full.warn_fraction),
        }
    )


def _count_message(max_count: int) -> str:
    if max_count == 0:
        return "此类工单不允许延期 (extension is not allowed for this kind of order)"
    if max_count == 1:
        return "延期只能申请一次 (an order may be extended only once)"
    return f"延期最多申请 {max_count} 次 (an order may be extended at most {max_count} times)"


@dataclass(frozen=True)
class ReturnDecision:
    """Whether a unit may return (退单) an order, and until when it could."""

    allowed: bool
    window_ends: datetime
    reason: str | None = None
    code: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def return_allowed(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    appeal_type: AppealType,
    urgency: Urgency,
    dispatched_at: datetime,
    at: datetime,
    returns_so_far: int = 0,
) -> ReturnDecision:
    """A wrong dispatch may be returned within the window after dispatch, a limited number
    of times by the same unit (`returns_so_far` counts that unit's earlier returns)."""
    rule = policy.rule_for(appeal_type, urgency)
    window_ends = calendar.add_working_days(dispatched_at, rule.return_window_working_days)
    if returns_so_far >= rule.max_returns_per_unit:
        return ReturnDecision(
            False,
            window_ends,
            "同一单位不能重复退回同一工单 (the same unit cannot return this order again)",
            "return_repeated",
        )
    if _utc(at) > window_ends:
        days = rule.return_window_working_days
        return ReturnDecision(
            False,
            window_ends,
            f"已超过派单后 {days} 个工作日的退单期限 "
            f"(returns are accepted within {days} working days of dispatch)",
            "return_window",
        )
    return ReturnDecision(True, window_ends)


def after_reassign(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    sla: SlaDeadlines,
    appeal_type: AppealType,
    urgency: Urgency,
    at: datetime,
) -> SlaDeadlines:
    """Deadlines once a returned order is reassigned (改派): restart or continue per rule."""
    rule = policy.rule_for(appeal_type, urgency)
    sign_due = rule.sign.due(calendar, at)
    if rule.on_reassign == "continue" and sla.resolve_due is not None:
        return sla.model_copy(update={"sign_due": sign_due})
    return _new_round(calendar, sla, rule, rule.resolve, at)


def reopen_deadlines(
    policy: SlaPolicy,
    calendar: WorkingCalendar,
    sla: SlaDeadlines,
    appeal_type: AppealType,
    urgency: Urgency,
    at: datetime,
) -> SlaDeadlines:
    """A new round for the same lead after a dissatisfied revisit (重办)."""
    rule = policy.rule_for(appeal_type, urgency)
    return _new_round(calendar, sla, rule, rule.reopen or rule.resolve, at)


def _new_round(
    calendar: WorkingCalendar, sla: SlaDeadlines, rule: SlaRule, limit: TimeLimit, at: datetime
) -> SlaDeadlines:
    start = _utc(at)
    resolve_due = limit.due(calendar, start)
    return sla.model_copy(
        update={
            "sign_due": rule.sign.due(calendar, start),
            "resolve_due": resolve_due,
            "warn_at": _warn_at(calendar, start, resolve_due, rule.warn_fraction, limit.natural),
            "extended_until": None,
            "extension_count": 0,
            "clock_started_at": start,
        }
    )


def _warn_at(
    calendar: WorkingCalendar,
    start: datetime,
    due: datetime,
    fraction: float,
    natural: bool = False,
) -> datetime:
    if natural:
        return start + (due - start) * fraction
    total = calendar.working_minutes_between(start, due)
    return min(calendar.add_working_minutes(start, int(total * fraction)), due)


def _utc(moment: datetime) -> datetime:
    # add_minutes validates awareness and converts to UTC.
    return add_minutes(moment, 0)
