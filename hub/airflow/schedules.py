"""Connector schedules (``5m``, cron, ``@daily``) → one DAG schedule plus each task's turn.

A connector DAG has one schedule but its streams may each ask for their own. When every
schedule can be written as cron, the DAG fires on the union of them and each task runs only
on its own ticks (a manual run runs everything). Pure: no Airflow import, so it is cheap to
parse and easy to test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hub.connectors.models import duration_seconds

#: The district's clock: cron schedules are read in China time.
TIMEZONE = "Asia/Shanghai"
#: How often a connector with a ``status`` operation is polled for answers.
FEEDBACK_SCHEDULE = "5m"

PRESET_CRONS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
#: Presets with no cron form: they cannot share a DAG with other schedules.
SPECIAL_PRESETS = ("@once", "@continuous")
# A fixed reference point for estimating how often a cron fires (deterministic).
_REFERENCE = datetime(2026, 1, 5, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule Airflow cannot run; `job` names the stream or task it came from."""

    def __init__(self, job: str, message: str) -> None:
        self.job = job
        super().__init__(message)


def is_cron(text: str) -> bool:
    return len(text.split()) == 5


def to_cron(schedule: str) -> str | None:
    """The cron form of a schedule when one fires at exactly that rhythm, else None.

    ``5m`` → ``*/5 * * * *`` (a minute count that divides the hour), ``2h`` → ``0 */2 * * *``
    (hours that divide the day), ``1d`` → ``0 0 * * *``; ``7m`` or ``90m`` have no such form.
    """
    text = schedule.strip()
    if is_cron(text):
        return " ".join(text.split())
    if text.startswith("@"):
        return PRESET_CRONS.get(text)
    seconds = duration_seconds(text)
    if seconds <= 0 or seconds % 60:
        return None
    minutes = seconds // 60
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60 == 0:
        hours = minutes // 60
        if hours < 24 and 24 % hours == 0:
            return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
        if hours == 24:
            return "0 0 * * *"
    return None


def check_schedule(job: str, schedule: str) -> None:
    """Refuse what Airflow would refuse later, while we can still name the stream."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in PRESET_CRONS and text not in SPECIAL_PRESETS:
            raise ScheduleError(job, f"未知的调度预设 (unknown schedule preset) {text}")
        return
    if is_cron(text):
        from croniter import croniter  # Airflow's own cron library

        if not croniter.is_valid(text):
            raise ScheduleError(job, f"cron 表达式无效 (invalid cron expression) {text!r}")
        return
    try:
        seconds = duration_seconds(text)
    except ValueError as exc:
        raise ScheduleError(job, str(exc)) from exc
    if seconds < 60:
        raise ScheduleError(job, f"调度间隔至少 1 分钟 (schedule must be at least 1m): {text}")


def interval_seconds(schedule: str) -> float:
    """Roughly how often a schedule fires, to pick the most frequent one."""
    text = schedule.strip()
    if text in SPECIAL_PRESETS:
        return 0.0 if text == "@continuous" else float("inf")
    cron = to_cron(text)
    if cron is None:
        return float(duration_seconds(text))
    from croniter import croniter

    it = croniter(cron, _REFERENCE)
    first = it.get_next(datetime)
    return float((it.get_next(datetime) - first).total_seconds())


@dataclass(frozen=True)
class Plan:
    """The DAG's schedule and, per task, the cron it must match (None: every run).

    Exactly one of `crons`, `delta_seconds`, `preset` is set.
    """

    crons: tuple[str, ...] = ()
    delta_seconds: int | None = None
    preset: str | None = None
    turns: Mapping[str, str | None] = field(default_factory=dict)

    def describe(self) -> str:
        if self.crons:
            return " | ".join(self.crons)
        if self.delta_seconds is not None:
            return f"every {self.delta_seconds}s"
        return self.preset or ""


def plan(jobs: Mapping[str, str]) -> Plan:
    """One DAG schedule for jobs (task id → schedule text); see the module docstring."""
    for job, schedule in jobs.items():
        check_schedule(job, schedule)
    distinct = list(dict.fromkeys(s.strip() for s in jobs.values()))
    if not distinct:
        return Plan(preset="@once")
    if len(distinct) == 1:
        only = distinct[0]
        cron = to_cron(only)
        every_run: dict[str, str | None] = dict.fromkeys(jobs)
        if cron is not None:
            return Plan(crons=(cron,), turns=every_run)
        if only in SPECIAL_PRESETS:
            return Plan(preset=only, turns=every_run)
        return Plan(delta_seconds=duration_seconds(only), turns=every_run)
    for job, schedule in jobs.items():
        if schedule.strip() in SPECIAL_PRESETS:
            raise ScheduleError(
                job,
                f"{schedule.strip()} 不能与其他调度同在一个连接器中 "
                "(cannot be mixed with other schedules in one connector)",
            )
    crons = {job: to_cron(s) for job, s in jobs.items()}
    if all(c is not None for c in crons.values()):
        return Plan(crons=tuple(sorted({c for c in crons.values() if c})), turns=crons)
    # Some rhythm has no cron form (e.g. 7m next to 1h): run everything at the fastest one;
    # pulls are incremental, so an extra pull only costs a request.
    fastest = min(distinct, key=interval_seconds)
    cron = to_cron(fastest)
    every: dict[str, str | None] = dict.fromkeys(jobs)
    if cron is not None:
        return Plan(crons=(cron,), turns=every)
    return Plan(delta_seconds=duration_seconds(fastest), turns=every)


def is_turn(cron: str | None, when: datetime) -> bool:
    """Whether a task whose own schedule is `cron` is due in the run at `when`."""
    if cron is None:
        return True
    from croniter import croniter

    local = when.astimezone(ZoneInfo(TIMEZONE)).replace(second=0, microsecond=0)
    return bool(croniter.match(cron, local))
