"""Working-day calendar: the 2026 State Council arrangements, counting rules, config errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.model.base import LOCAL_ZONE
from hub.workflow.calendar import (
    CalendarRangeError,
    WorkingCalendar,
    add_minutes,
    load_calendar,
    minutes_between,
)
from hub.yamlconf import ConfigError

CALENDARS = Path(__file__).resolve().parents[2] / "policies" / "calendars"
CAL = load_calendar(CALENDARS)


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=LOCAL_ZONE)


def test_shipped_years_and_provisional_flag() -> None:
    assert CAL.years == {2026, 2027}
    assert CAL.provisional_years == {2027}
    assert CAL.last_day == date(2027, 12, 31)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-01-01", False),  # 元旦
        ("2026-01-02", False),  # Friday inside the New Year break
        ("2026-01-04", True),  # Sunday make-up day
        ("2026-01-05", True),
        ("2026-02-13", True),
        ("2026-02-14", True),  # Saturday make-up day before the Spring Festival
        ("2026-02-15", False),
        ("2026-02-17", False),  # 正月初一
        ("2026-02-20", False),
        ("2026-02-23", False),  # Monday, last day of the break
        ("2026-02-24", True),
        ("2026-02-28", True),  # Saturday make-up day after it
        ("2026-03-07", False),  # an ordinary Saturday
        ("2026-03-09", True),  # an ordinary Monday
        ("2026-04-06", False),  # 清明 Monday
        ("2026-05-04", False),
        ("2026-05-05", False),
        ("2026-05-06", True),
        ("2026-05-09", True),  # Saturday make-up day
        ("2026-06-19", False),  # 端午
        ("2026-09-20", True),  # Sunday make-up day for National Day
        ("2026-09-19", False),
        ("2026-09-25", False),  # 中秋
        ("2026-10-01", False),
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday make-up day
        ("2026-10-11", False),
        ("2027-02-08", False),  # provisional 2027: 初三
        ("2027-02-11", True),
    ],
)
def test_is_working_day(day: str, working: bool) -> None:
    assert CAL.is_working_day(date.fromisoformat(day)) is working


def test_is_working_day_takes_the_local_date_of_an_aware_datetime() -> None:
    # 2026-09-18 17:00 UTC is Saturday 01:00 in Shanghai.
    assert CAL.is_working_day(datetime(2026, 9, 18, 15, 0, tzinfo=UTC)) is True
    assert CAL.is_working_day(datetime(2026, 9, 18, 17, 0, tzinfo=UTC)) is False


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        # Friday before Mid-Autumn: Saturday off, Sunday 9/20 worked, 9/25–27 off.
        (local(2026, 9, 18, 10), 1, local(2026, 9, 20, 17, 30)),
        (local(2026, 9, 18, 10), 5, local(2026, 9, 24, 17, 30)),
        (local(2026, 9, 18, 10), 6, local(2026, 9, 28, 17, 30)),
        (local(2026, 9, 18, 10), 8, local(2026, 9, 30, 17, 30)),
        # … then National Day 10/1–7, with Saturday 10/10 worked.
        (local(2026, 9, 18, 10), 9, local(2026, 10, 8, 17, 30)),
        (local(2026, 9, 18, 10), 11, local(2026, 10, 10, 17, 30)),
        (local(2026, 9, 18, 10), 12, local(2026, 10, 12, 17, 30)),
        # Spring Festival: 2/14 Saturday worked, 2/15–23 off.
        (local(2026, 2, 12, 14), 2, local(2026, 2, 14, 17, 30)),
        (local(2026, 2, 12, 14), 3, local(2026, 2, 24, 17, 30)),
        (local(2026, 2, 12, 14), 5, local(2026, 2, 26, 17, 30)),
        # The receipt day is never counted, whatever the hour or the kind of day.
        (local(2026, 9, 18, 20), 5, local(2026, 9, 24, 17, 30)),
        (local(2026, 9, 19, 11), 5, local(2026, 9, 24, 17, 30)),
        (local(2026, 2, 16, 9), 1, local(2026, 2, 24, 17, 30)),
        # Received on New Year's Eve 2025 (not loaded, not needed): 1/4 is day 1.
        (local(2025, 12, 31, 10), 1, local(2026, 1, 4, 17, 30)),
        # n = 0: the same working day, else the next one.
        (local(2026, 9, 18, 7), 0, local(2026, 9, 18, 17, 30)),
        (local(2026, 9, 18, 17, 29), 0, local(2026, 9, 18, 17, 30)),
        (local(2026, 9, 18, 17, 30), 0, local(2026, 9, 20, 17, 30)),
        (local(2026, 9, 19, 10), 0, local(2026, 9, 20, 17, 30)),
        (local(2026, 2, 14, 10), 0, local(2026, 2, 14, 17, 30)),
    ],
)
def test_add_working_days(start: datetime, n: int, due: datetime) -> None:
    result = CAL.add_working_days(start, n)
    assert result == due
    assert result.tzinfo is UTC


def test_add_working_days_reads_utc_input_in_local_time() -> None:
    # 2026-09-18 17:00 UTC = Saturday 01:00 local: 5 working days end on Thursday 9/24.
    assert CAL.add_working_days(datetime(2026, 9, 18, 17, tzinfo=UTC), 5) == local(
        2026, 9, 24, 17, 30
    )
    # Same day, 15:00 UTC = 23:00 local Friday, after hours: n=0 rolls to Sunday 9/20.
    assert CAL.add_working_days(datetime(2026, 9, 18, 15, tzinfo=UTC), 0) == local(
        2026, 9, 20, 17, 30
    )


def test_add_working_days_rejects_negative_and_naive() -> None:
    with pytest.raises(ValueError, match="working days must be >= 0"):
        CAL.add_working_days(local(2026, 9, 18), -1)
    with pytest.raises(ValueError, match="aware datetime"):
        CAL.add_working_days(datetime(2026, 9, 18, 10), 1)


def test_working_days_between_counts_overdue_days() -> None:
    due = local(2026, 9, 24, 17, 30)
    assert CAL.working_days_between(local(2026, 9, 18, 10), due) == 5
    assert CAL.working_days_between(due, local(2026, 9, 24, 23)) == 0
    assert CAL.working_days_between(due, local(2026, 9, 27, 12)) == 0  # Mid-Autumn
    assert CAL.working_days_between(due, local(2026, 9, 28, 9)) == 1
    assert CAL.working_days_between(due, local(2026, 10, 7, 9)) == 3  # National Day
    assert CAL.working_days_between(due, local(2026, 10, 10, 9)) == 6
    assert CAL.working_days_between(local(2026, 9, 28, 9), due) == -1
    assert CAL.working_days_between(date(2026, 2, 12), date(2026, 2, 28)) == 7


def test_dates_outside_the_loaded_years_raise() -> None:
    with pytest.raises(CalendarRangeError) as caught:
        CAL.is_working_day(date(2025, 12, 31))
    message = str(caught.value)
    assert "2025-12-31" in message and "工作日历未覆盖" in message
    assert "2026, 2027" in message and "policies/calendars/2025.yaml" in message
    with pytest.raises(CalendarRangeError, match="2028"):
        CAL.add_working_days(local(2027, 12, 28, 10), 5)
    with pytest.raises(CalendarRangeError):
        CAL.working_days_between(local(2027, 12, 30), local(2028, 1, 3))
    with pytest.raises(CalendarRangeError):
        CAL.add_working_days(local(2025, 12, 31, 10), 0)  # n=0 needs the start day


def test_working_minutes_skip_nights_weekends_and_holidays() -> None:
    friday = local(2026, 9, 18, 16, 30)
    assert CAL.add_working_minutes(friday, 120) == local(2026, 9, 20, 9, 30)
    assert CAL.working_minutes_between(friday, local(2026, 9, 20, 9, 30)) == 120
    assert CAL.add_working_minutes(local(2026, 9, 19, 10), 0) == local(2026, 9, 20, 8, 30)
    assert CAL.add_working_minutes(local(2026, 9, 30, 17), 60) == local(2026, 10, 8, 9)
    assert CAL.working_minutes_between(local(2026, 10, 1), local(2026, 10, 7, 23)) == 0
    assert CAL.working_minutes_between(local(2026, 9, 21, 12), local(2026, 9, 21, 11)) == 0


def test_natural_minutes_ignore_the_calendar() -> None:
    saturday_night = local(2026, 10, 3, 23, 50)
    assert add_minutes(saturday_night, 30) == local(2026, 10, 4, 0, 20)
    assert minutes_between(saturday_night, local(2026, 10, 4, 0, 20)) == 30


starts = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 10, 31), timezones=st.just(UTC)
)


@settings(deadline=None)
@given(start=starts, n=st.integers(min_value=1, max_value=40))
def test_add_working_days_lands_on_a_working_day_and_inverts(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n)
    due_local = due.astimezone(LOCAL_ZONE)
    assert CAL.is_working_day(due_local.date())
    assert due_local.time().strftime("%H:%M") == "17:30"
    assert due > start
    assert CAL.working_days_between(start, due) == n
    if n > 1:  # one working day less ends on an earlier working day
        assert CAL.add_working_days(start, n - 1) < due


@settings(deadline=None)
@given(start=starts, minutes=st.integers(min_value=0, max_value=10 * 540))
def test_working_minutes_round_trip(start: datetime, minutes: int) -> None:
    end = CAL.add_working_minutes(start, minutes)
    assert end >= start
    assert CAL.working_minutes_between(start, end) == minutes


@settings(deadline=None)
@given(day=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)))
def test_unlisted_days_follow_the_week(day: date) -> None:
    listed = day in CAL.holidays or day in CAL.workdays
    if not listed:
        assert CAL.is_working_day(day) is (day.weekday() < 5)
    if day in CAL.workdays:
        assert day.weekday() >= 5 and CAL.is_working_day(day)


# --- config errors -----------------------------------------------------------------------

GOOD = """\
year: 2026
working_hours:
  start: "08:30"
  end: "17:30"
holidays:
  - name: 元旦
    start: 2026-01-01
    end: 2026-01-03
workdays:
  - date: 2026-01-04
    name: 元旦调休上班
"""


def write(tmp_path: Path, text: str, name: str = "2026.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def line_containing(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    cal = load_calendar(write(tmp_path, GOOD))
    assert not cal.is_working_day(date(2026, 1, 2))
    assert cal.is_working_day(date(2026, 1, 4))
    assert cal.provisional_years == frozenset()


CASES = [
    # (what, file text, field, text on the expected line, words in the message)
    (
        "unquoted time read by YAML as a number",
        GOOD.replace('end: "17:30"', "end: 17:30"),
        "working_hours.end",
        "end: 17:30",
        '"HH:MM"',
    ),
    (
        "office hours end before they start",
        GOOD.replace('end: "17:30"', 'end: "08:00"'),
        "working_hours",
        'start: "08:30"',  # a mapping's line is its first key's (hub.yamlconf.line_of)
        "end must be after start",
    ),
    (
        "year differs from the file name",
        GOOD.replace("year: 2026", "year: 2025"),
        "year",
        "year: 2025",
        "file name",
    ),
    (
        "make-up day on a weekday",
        GOOD.replace("date: 2026-01-04", "date: 2026-01-05"),
        "workdays[0].date",
        "date: 2026-01-05",
        "weekend",
    ),
    (
        "make-up day inside a holiday",
        GOOD.replace("end: 2026-01-03", "end: 2026-01-04"),
        "workdays[0].date",
        "date: 2026-01-04",
        "already a holiday",
    ),
    (
        "holiday ends before it starts",
        GOOD.replace("end: 2026-01-03", "end: 2025-12-30"),
        "holidays[0]",
        "- name: 元旦",
        "end is before start",
    ),
    (
        "not a date",
        GOOD.replace("start: 2026-01-01", "start: 2026-13-01"),
        "holidays[0].start",
        "start: 2026-13-01",
        "invalid date",
    ),
    (
        "a date far outside the year",
        GOOD.replace(
            "start: 2026-01-01\n    end: 2026-01-03", "start: 2027-05-01\n    end: 2027-05-02"
        ),
        "holidays[0].start",
        "start: 2027-05-01",
        "outside the year",
    ),
    (
        "quoted date that does not exist",
        GOOD.replace("start: 2026-01-01", 'start: "2026-02-30"'),
        "holidays[0].start",
        'start: "2026-02-30"',
        "YYYY-MM-DD",
    ),
    (
        "misspelt field",
        GOOD.replace("workdays:", "workday:"),
        "workday",
        "- date: 2026-01-04",
        "Extra inputs are not permitted",
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "field", "needle", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_config_errors_name_file_line_and_field(
    tmp_path: Path, what: str, text: str, field: str, needle: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_calendar(write(tmp_path, text))
    error = caught.value
    assert error.path.endswith("2026.yaml")
    assert error.field == field
    assert error.line == line_containing(text, needle)
    assert words in error.message
    assert f"2026.yaml:{error.line}: {field}:" in str(error)


def test_neighbouring_year_dates_and_conflicts_across_files(tmp_path: Path) -> None:
    # The 2026 file makes Sunday 2026-12-27 a make-up day; 2027's notice starts its New
    # Year break on 2026-12-31, which it may list (dates near the year boundary).
    write(
        tmp_path, GOOD.replace("workdays:\n", "workdays:\n  - date: 2026-12-27\n    name: 上班\n")
    )
    later = """\
year: 2027
holidays:
  - name: 元旦
    start: 2026-12-31
    end: 2027-01-01
"""
    write(tmp_path, later, "2027.yaml")
    cal = load_calendar(tmp_path)
    assert not cal.is_working_day(date(2026, 12, 31))
    assert cal.is_working_day(date(2026, 12, 27))
    clash = later.replace("start: 2026-12-31", "start: 2026-12-27")
    write(tmp_path, clash, "2027.yaml")
    with pytest.raises(ConfigError) as caught:
        load_calendar(tmp_path)
    assert caught.value.path.endswith("2027.yaml")
    assert caught.value.field == "holidays[0]"
    assert caught.value.line == 3
    assert "2026.yaml" in caught.value.message and "make-up" in caught.value.message


def test_directory_and_file_name_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no calendar files"):
        load_calendar(tmp_path)
    with pytest.raises(ConfigError, match="no calendar files"):
        load_calendar(tmp_path / "missing")
    write(tmp_path, GOOD, "calendar-2026.yaml")
    with pytest.raises(ConfigError, match="name the file after its year"):
        load_calendar(tmp_path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    broken = GOOD.replace("holidays:\n", "holidays: [\n")
    with pytest.raises(ConfigError) as caught:
        load_calendar(write(tmp_path, broken))
    assert caught.value.line is not None
    assert "syntax error" in caught.value.message


def test_calendar_is_usable_as_a_cache_key() -> None:
    assert {CAL: 1}[CAL] == 1
    assert isinstance(CAL, WorkingCalendar)
    assert CAL.day_end(date(2026, 9, 24)) - CAL.day_start(date(2026, 9, 24)) == timedelta(hours=9)
