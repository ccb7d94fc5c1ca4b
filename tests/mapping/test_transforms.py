"""Every transform, by example and by property: they return a value or raise MappingError."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.mapping import MappingError
from hub.mapping import transforms as t
from hub.model.base import LOCAL_ZONE

FMT = "%Y-%m-%d %H:%M:%S"

# --- type casts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("文本", "文本"),
        (12, "12"),
        (1.5, "1.5"),
        (Decimal("2.50"), "2.50"),
        (True, "true"),
        (date(2026, 1, 5), "2026-01-05"),
        ("中".encode(), "中"),
    ],
)
def test_to_str(value: Any, expected: Any) -> None:
    assert t.to_str(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (7, 7), (" 12 ", 12), ("-3", -3), ("+4", 4), (12.0, 12), ("12.0", 12)],
)
def test_to_int(value: Any, expected: Any) -> None:
    assert t.to_int(value) == expected


@pytest.mark.parametrize("value", ["12.5", "abc", "", True, "1e999999999", "NaN", [1]])
def test_to_int_refuses(value: Any) -> None:
    with pytest.raises(MappingError):
        t.to_int(value)


def test_to_float_and_decimal() -> None:
    assert t.to_float("1.25") == 1.25
    assert t.to_float(3) == 3.0
    assert t.to_decimal("0.10") == Decimal("0.10")
    assert t.to_decimal(None) is None
    for bad in ("inf", "nan", "x", False):
        with pytest.raises(MappingError):
            t.to_decimal(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("是", True), ("否", False), ("1", True), ("0", False), (1, True), (0, False),
     ("TRUE", True), (" no ", False), ("Y", True), (False, False), (None, None)],
)  # fmt: skip
def test_to_bool(value: Any, expected: Any) -> None:
    assert t.to_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, "", 1.0])
def test_to_bool_refuses(value: Any) -> None:
    with pytest.raises(MappingError, match="boolean"):
        t.to_bool(value)


# --- dates and times ------------------------------------------------------------------


def test_parse_datetime_local_zone_and_formats() -> None:
    parse = t.parse_datetime([FMT, "%Y%m%d%H%M%S"], LOCAL_ZONE)
    assert parse("2026-01-05 09:30:00") == datetime(2026, 1, 5, 9, 30, tzinfo=LOCAL_ZONE)
    assert parse("20260105093000") == datetime(2026, 1, 5, 9, 30, tzinfo=LOCAL_ZONE)
    assert parse(None) is None
    with pytest.raises(MappingError, match="format"):
        parse("2026/01/05")
    with pytest.raises(MappingError):
        parse("2026-01-05")  # the fast path must not accept what the format would not


def test_parse_datetime_iso_keeps_an_offset() -> None:
    parse = t.parse_datetime([], LOCAL_ZONE)
    assert parse("2026-01-05T01:30:00Z") == datetime(2026, 1, 5, 1, 30, tzinfo=UTC)
    assert parse(datetime(2026, 1, 5, 9, 30)).tzinfo is LOCAL_ZONE
    with pytest.raises(MappingError):
        parse(12345)


def test_parse_and_format_date() -> None:
    assert t.parse_date(["%Y%m%d"])("20260105") == date(2026, 1, 5)
    assert t.parse_date([])("2026-01-05") == date(2026, 1, 5)
    assert t.parse_date([])(datetime(2026, 1, 5, 23, 0)) == date(2026, 1, 5)
    assert t.format_date("%Y年%m月%d日")(date(2026, 1, 5)) == "2026年01月05日"
    assert t.format_date(None)("2026-01-05") == "2026-01-05"


def test_format_datetime_renders_local_time() -> None:
    render = t.format_datetime(FMT, LOCAL_ZONE)
    assert render(datetime(2026, 1, 5, 1, 30, tzinfo=UTC)) == "2026-01-05 09:30:00"
    assert render("2026-01-05T01:30:00+00:00") == "2026-01-05 09:30:00"
    assert render(None) is None
    assert t.format_datetime(None, LOCAL_ZONE)(datetime(2026, 1, 5, 1, 30, tzinfo=UTC)) == (
        "2026-01-05T09:30:00+08:00"
    )


# China kept summer time 1986-1991: from 1992 on Asia/Shanghai is a fixed UTC+8.
moments = st.datetimes(
    min_value=datetime(1992, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@given(moments, st.sampled_from([FMT, "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M"]))
def test_datetime_round_trips_through_format_and_parse(moment: datetime, fmt: str) -> None:
    if "%S" not in fmt:
        moment = moment.replace(second=0)
    text = t.format_datetime(fmt, LOCAL_ZONE)(moment)
    back = t.parse_datetime([fmt], LOCAL_ZONE)(text)
    assert back == moment
    assert back.utcoffset() == timedelta(hours=8)


# --- codes, defaults and text ---------------------------------------------------------


def test_code_map_compares_codes_as_text() -> None:
    translate = t.code_map({"0": "dispatched", "1": "in_progress"})
    assert translate(0) == "dispatched"
    assert translate("1") == "in_progress"
    assert translate(None) is None
    with pytest.raises(MappingError, match="code table"):
        translate("9")
    assert t.code_map({"a": 1}, "fallback")("zzz") == "fallback"


def test_code_map_reads_enum_members_by_value() -> None:
    from hub.model.codes import Urgency

    assert t.code_map({"critical": 2})(Urgency.CRITICAL) == 2


codes = st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=8)
raw_values = st.one_of(st.none(), st.text(max_size=8), st.integers(), st.booleans())


@given(codes, raw_values)
def test_code_map_with_default_is_total(table: dict[str, str], value: Any) -> None:
    result = t.code_map(table, "DEFAULT")(value)
    assert result is None if value is None else result in {*table.values(), "DEFAULT"}


@given(codes, raw_values)
def test_code_map_without_default_maps_or_says_why(table: dict[str, str], value: Any) -> None:
    try:
        result = t.code_map(table)(value)
    except MappingError as exc:
        assert exc.reason
    else:
        assert result is None or result in table.values()


def test_default_fills_missing_and_empty() -> None:
    fill = t.default("x")
    assert (fill(None), fill(""), fill("y"), fill(0)) == ("x", "x", "y", 0)


def test_regex_group_whole_match_and_no_match() -> None:
    assert t.regex(r"(1[3-9]\d{9})")("电话：13812341234。") == "13812341234"
    assert t.regex(r"\d+")("ab12cd") == "12"
    assert t.regex(r"(\d+)")("none") is None
    assert t.regex(r"(\d+)")(None) is None
    assert t.regex(r"(\d+)")(42) == "42"


@given(st.text(alphabet="abc 电话：-", max_size=10), st.from_regex(r"1[3-9]\d{9}", fullmatch=True))
def test_regex_extracts_a_mobile_from_surrounding_text(noise: str, mobile: str) -> None:
    assert t.regex(r"(1[3-9]\d{9})")(noise + mobile + noise) == mobile


def test_text_transforms() -> None:
    assert t.strip("  a ") == "a"
    assert t.upper("ab") == "AB"
    assert t.lower("AB") == "ab"
    assert t.upper(None) is None
    assert t.strip(12) == "12"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("phone", "13812341234", "138****1234"),
        ("id", "130102199003071233", "1301**********1233"),
        ("name", "张三丰", "张**"),
        ("email", "zhang@example.cn", "z***@example.cn"),
        ("text", "请致电13812341234", "请致电138****1234"),
    ],
)
def test_mask(kind: str, value: str, expected: str) -> None:
    assert t.mask(kind)(value) == expected


def test_split_and_join() -> None:
    assert t.split(",")("a, b,,c ") == ["a", "b", "c"]
    assert t.split(",")(["kept"]) == ["kept"]
    assert t.join("、")(["a", None, 1]) == "a、1"
    assert t.join(",")("solo") == "solo"
    assert t.join(",")(None) is None


anything = st.one_of(
    st.none(),
    st.text(),
    st.binary(max_size=20),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dates(),
    st.from_regex(r"[+-]?\d{1,40}(\.\d{0,5})?([eE][+-]?\d{1,12})?", fullmatch=True),
)


@pytest.mark.parametrize("cast", sorted(t.TYPE_CASTS))
@given(value=anything)
def test_casts_raise_nothing_but_mapping_error(cast: str, value: Any) -> None:
    with contextlib.suppress(MappingError):
        t.TYPE_CASTS[cast](value)


@given(value=anything)
def test_datetime_parse_raises_nothing_but_mapping_error(value: Any) -> None:
    for transform in (t.parse_datetime([FMT], LOCAL_ZONE), t.parse_date(["%Y%m%d"])):
        with contextlib.suppress(MappingError):
            transform(value)
