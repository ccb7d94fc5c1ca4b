"""Working-day calendar (工作日历): public holidays, make-up working days and office hours.

Time limits on work orders are counted in working days (法定节假日不计入, 调休上班日计入),
so the calendar comes from the State Council's yearly notice, one file per year in
`policies/calendars/`. A date in a year with no file raises `CalendarRangeError` instead
of being treated as an ordinary week: a silent guess would give wrong deadlines around
New Year and the Spring Festival, and a clear error tells the admins to add the file.

Counting rules (the same for every caller):
- the receipt day is never counted (期间开始的当日不计入): the n-th working day is counted
  from the day after the start's local date, whatever the time of day or whether the
  start was on a day off; the deadline is the end of that day's office hours;
- n = 0 means "the same working day": the end of the start's day if it is a working day
  and its office hours have not ended, else the end of the next working day;
- working time (工作时间) is office hours on working days, without a lunch break;
- natural minutes (the 7×24 hotline's 30-minute response) ignore the calendar.
Datetimes in must be aware; datetimes out are aware and in UTC, as the store keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hub.model.base import LOCAL_ZONE
from hub.yamlconf import ConfigError, field_path, line_of, load_model

DEFAULT_DAY_START = time(8, 30)
DEFAULT_DAY_END = time(17, 30)
#: A year file may list dates this many days into the neighbouring years: the notice for
#: a year sometimes starts its New Year break on 31 December of the year before.
BOUNDARY_DAYS = 31
M = TypeVar("M", bound=BaseModel)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_YEAR_FILE = re.compile(r"^\d{4}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class CalendarRangeError(ValueError):
    """A date outside the loaded years: add `policies/calendars/<year>.yaml`."""

    def __init__(self, day: date, years: Iterable[int]) -> None:
        self.day = day
        self.years = sorted(years)
        loaded = ", ".join(str(y) for y in self.years) or "-"
        super().__init__(
            f"工作日历未覆盖 {day.isoformat()}，已加载年份：{loaded}；"
            f"请添加 policies/calendars/{day.year}.yaml "
            f"(no working-day calendar for {day.year}; add the year's file)"
        )


def clock_time(value: Any) -> Any:
    """Office times must be quoted "HH:MM": YAML 1.1 reads an unquoted 17:30 as 1050."""
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        found = _CLOCK.match(value.strip())
        if found:
            return time(int(found.group(1)), int(found.group(2)))
    raise ValueError('时间须写成带引号的 "HH:MM"，如 "17:30" (write a quoted "HH:MM" time)')


def calendar_day(value: Any) -> Any:
    """Only real dates or ISO strings; pydantic would otherwise read a number as a timestamp."""
    if isinstance(value, datetime):
        raise ValueError("须为日期，不含时间 (a date without a time)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError("日期须写成 YYYY-MM-DD (a date as YYYY-MM-DD)")


ClockTime = Annotated[time, BeforeValidator(clock_time)]
Day = Annotated[date, BeforeValidator(calendar_day)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class WorkingHours(_Strict):
    start: ClockTime = DEFAULT_DAY_START
    end: ClockTime = DEFAULT_DAY_END

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("下班时间须晚于上班时间 (end must be after start)")
        return self


class Holiday(_Strict):
    name: str = Field(min_length=1)
    start: Day
    end: Day

    @model_validator(mode="after")
    def _ordered(self) -> Holiday:
        if self.end < self.start:
            raise ValueError("结束日期早于开始日期 (end is before start)")
        return self

    def days(self) -> list[date]:
        return [self.start + timedelta(n) for n in range((self.end - self.start).days + 1)]


class MakeUpDay(_Strict):
    date: Day
    name: str = Field(min_length=1)


class YearFile(_Strict):
    """One `policies/calendars/<year>.yaml`."""

    year: int = Field(ge=2000, le=2100)
    provisional: bool = False
    source: str | None = None
    working_hours: WorkingHours = WorkingHours()
    holidays: list[Holiday] = Field(default_factory=list)
    workdays: list[MakeUpDay] = Field(default_factory=list)


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """Which days are worked, and when a working day starts and ends (local time)."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    hours: dict[int, WorkingHours]
    provisional_years: frozenset[int] = frozenset()
    _office: dict[date, tuple[datetime, datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: Every deadline asks about a few dozen days; the answer per date never changes.
    _worked: dict[date, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def years(self) -> frozenset[int]:
        return frozenset(self.hours)

    @property
    def last_day(self) -> date:
        """The last covered date; a health check can warn before the calendar runs out."""
        return date(max(self.hours), 12, 31)

    def covers(self, day: date) -> bool:
        return day.year in self.hours

    def is_working_day(self, day: date | datetime) -> bool:
        """Make-up days are worked, holidays are not, otherwise Monday to Friday."""
        local = _local_date(day)
        worked = self._worked.get(local)
        if worked is None:
            self._check(local)
            worked = local in self.workdays or (local not in self.holidays and local.weekday() < 5)
            self._worked[local] = worked
        return worked

    def day_start(self, day: date) -> datetime:
        """Start of office hours on `day` (UTC), whether or not the day is worked."""
        return self._office_hours(day)[0]

    def day_end(self, day: date) -> datetime:
        """End of office hours on `day` (UTC): what a working-day deadline means."""
        return self._office_hours(day)[1]

    def _office_hours(self, day: date) -> tuple[datetime, datetime]:
        # Every deadline walks a few days through the time-zone conversion; remember them.
        found = self._office.get(day)
        if found is None:
            self._check(day)
            hours = self.hours[day.year]
            found = self._office[day] = (_at(day, hours.start), _at(day, hours.end))
        return found

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        current = day + timedelta(1)
        while not self.is_working_day(current):
            current += timedelta(1)
        return current

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """End of the n-th working day after the start's date (n = 0: the same working day)."""
        if n < 0:
            raise ValueError(f"工作日数不能为负 (working days must be >= 0): {n}")
        local = _local(start)
        day = local.date()
        if n == 0:
            if self.is_working_day(day) and local < self.day_end(day):
                return self.day_end(day)
            return self.day_end(self.next_working_day(day))
        for _ in range(n):
            day = self.next_working_day(day)
        return self.day_end(day)

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days d with a < d <= b by local date; negative when b is before a.

        It inverts add_working_days for n >= 1, and counts overdue days: a deadline on a
        Thursday, looked at on the next Monday with Friday a holiday, is 1 day overdue.
        """
        first, last = _local_date(a), _local_date(b)
        if last < first:
            return -self.working_days_between(b, a)
        count = 0
        day = first + timedelta(1)
        while day <= last:
            count += self.is_working_day(day)
            day += timedelta(1)
        return count

    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """The moment when `minutes` of office time have passed since `start`.

        Zero minutes from outside office hours gives the start of the next office hours.
        """
        if minutes < 0:
            raise ValueError(f"分钟数不能为负 (minutes must be >= 0): {minutes}")
        remaining = timedelta(minutes=minutes)
        cursor = _local(start).astimezone(UTC)
        day = _local(start).date()
        while True:
            if self.is_working_day(day):
                begin = max(cursor, self.day_start(day))
                end = self.day_end(day)
                if begin < end:
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += timedelta(1)

    def working_minutes_between(self, a: datetime, b: datetime) -> int:
        """Whole minutes of office time in [a, b]; 0 when b is not after a."""
        first, last = _local(a).astimezone(UTC), _local(b).astimezone(UTC)
        if last <= first:
            return 0
        total = timedelta()
        day = _local(a).date()
        while day <= _local(b).date():
            if self.is_working_day(day):
                begin = max(first, self.day_start(day))
                end = min(last, self.day_end(day))
                if begin < end:
                    total += end - begin
            day += timedelta(1)
        return int(total.total_seconds() // 60)

    def _check(self, day: date) -> None:
        if day.year not in self.hours:
            raise CalendarRangeError(day, self.hours)


def add_minutes(start: datetime, minutes: int) -> datetime:
    """Natural minutes (7×24), as for the 30-minute response target."""
    return _local(start).astimezone(UTC) + timedelta(minutes=minutes)


def minutes_between(a: datetime, b: datetime) -> float:
    """Natural minutes from a to b (negative when b is earlier)."""
    return (_local(b) - _local(a)).total_seconds() / 60


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"须为带时区的时间 (an aware datetime is required): {moment.isoformat()}")
    return moment.astimezone(LOCAL_ZONE)


def _local_date(value: date | datetime) -> date:
    return _local(value).date() if isinstance(value, datetime) else value


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=LOCAL_ZONE).astimezone(UTC)


# --- loading ----------------------------------------------------------------------------


def load_calendar(directory: Path) -> WorkingCalendar:
    """Read every `<year>.yaml` in `directory`; errors name the file, the line and the field."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml")) if directory.is_dir() else []
    if not files:
        raise ConfigError(
            directory, None, "", "未找到工作日历文件 <年份>.yaml (no calendar files found)"
        )
    holidays: dict[date, Path] = {}
    workdays: dict[date, Path] = {}
    hours: dict[int, WorkingHours] = {}
    provisional: set[int] = set()
    for path in files:
        if not _YEAR_FILE.match(path.stem):
            raise ConfigError(
                path, None, "", "文件名须为四位年份，如 2026.yaml (name the file after its year)"
            )
        year_file, root = load_policy(path, YearFile)
        _check_year_file(path, root, year_file, holidays, workdays)
        hours[year_file.year] = year_file.working_hours
        if year_file.provisional:
            provisional.add(year_file.year)
    return WorkingCalendar(
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        hours=hours,
        provisional_years=frozenset(provisional),
    )


def load_policy(path: Path, model: type[M]) -> tuple[M, yaml.Node | None]:
    """hub.yamlconf.load_model, plus a line for dates YAML itself cannot build.

    PyYAML turns an unquoted 2026-13-01 into a plain ValueError with no position; find
    the scalar and say where it is.
    """
    try:
        return load_model(path, model)
    except ConfigError:
        raise
    except ValueError as exc:
        line, loc = _bad_timestamp(path)
        raise ConfigError(path, line, field_path(loc), f"日期无效 (invalid date): {exc}") from exc


def _bad_timestamp(path: Path) -> tuple[int | None, list[str | int]]:
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    builder = yaml.constructor.SafeConstructor()
    pending: list[tuple[yaml.Node, list[str | int]]] = [(root, [])] if root else []
    while pending:
        node, loc = pending.pop()
        if isinstance(node, yaml.MappingNode):
            pending += [(value, [*loc, key.value]) for key, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            pending += [(item, [*loc, i]) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP:
            try:
                builder.construct_yaml_timestamp(node)
            except ValueError:
                return node.start_mark.line + 1, loc
    return None, []


def _check_year_file(
    path: Path,
    root: yaml.Node | None,
    data: YearFile,
    holidays: dict[date, Path],
    workdays: dict[date, Path],
) -> None:
    """Cross-field checks; fills `holidays` and `workdays` (shared across the year files)."""

    def fail(loc: list[str | int], message: str) -> None:
        raise ConfigError(path, line_of(root, loc), field_path(loc), message)

    if str(data.year) != path.stem:
        fail(["year"], f"year 须与文件名一致 (year must equal the file name {path.stem})")
    low = date(data.year, 1, 1) - timedelta(BOUNDARY_DAYS)
    high = date(data.year, 12, 31) + timedelta(BOUNDARY_DAYS)
    for i, holiday in enumerate(data.holidays):
        for which, day in (("start", holiday.start), ("end", holiday.end)):
            if not low <= day <= high:
                fail(["holidays", i, which], f"日期不在 {data.year} 年内 (date outside the year)")
        for day in holiday.days():
            other = workdays.get(day)
            if other is not None:
                fail(
                    ["holidays", i],
                    f"{day} 已在 {other.name} 中列为调休上班日 (already a make-up working day)",
                )
            holidays.setdefault(day, path)
    for i, make_up in enumerate(data.workdays):
        day = make_up.date
        loc: list[str | int] = ["workdays", i, "date"]
        if not low <= day <= high:
            fail(loc, f"日期不在 {data.year} 年内 (date outside the year)")
        if day.weekday() < 5:
            fail(loc, f"{day} 不是周末，无需列为调休上班日 (a make-up day must be a weekend day)")
        other = holidays.get(day)
        if other is not None:
            fail(loc, f"{day} 已在 {other.name} 中列为放假日 (already a holiday)")
        workdays.setdefault(day, path)
