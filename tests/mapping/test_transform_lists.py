"""The ``transforms:`` list form of every transform, compiled from YAML, and its errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.mapping import Mapping, load_mapping
from hub.model.base import LOCAL_ZONE
from hub.yamlconf import ConfigError

HEADER = """\
name: lists
direction: {direction}
source: {source}
target: json
code_tables:
  levels: {{normal: 0, critical: 2}}
fields:
"""


def outbound(tmp_path: Path, fields: str) -> Mapping:
    path = tmp_path / "lists.yaml"
    path.write_text(HEADER.format(direction="outbound", source="canonical") + fields, "utf-8")
    return load_mapping(path)


NINE_UTC = datetime(2026, 1, 5, 9, tzinfo=UTC)
ONE_UTC = datetime(2026, 1, 5, 1, tzinfo=UTC)
CASES: list[tuple[str, Any, Any]] = [
    ("[strip, upper]", " ab ", "AB"),
    ("[lower]", "AB", "ab"),
    ("[int]", "12", 12),
    ("[float]", "1.5", 1.5),
    ("[bool]", "是", True),
    ("[decimal, str]", "1.50", "1.50"),
    ("[datetime]", "2026-01-05T09:00:00", datetime(2026, 1, 5, 9, tzinfo=LOCAL_ZONE)),
    ("[{datetime: '%Y%m%d%H%M'}]", "202601050900", datetime(2026, 1, 5, 9, tzinfo=LOCAL_ZONE)),
    ("[{datetime: {format: '%Y%m%d%H%M', tz: UTC}}]", "202601050900", NINE_UTC),
    ("[date]", "2026-01-05", date(2026, 1, 5)),
    ("[{date: '%Y%m%d'}]", "20260105", date(2026, 1, 5)),
    ("[format_datetime]", datetime(2026, 1, 5, 1, tzinfo=UTC), "2026-01-05T09:00:00+08:00"),
    ("[{format_datetime: {format: '%H:%M', tz: UTC}}]", ONE_UTC, "01:00"),
    ("[format_date]", date(2026, 1, 5), "2026-01-05"),
    ("[{format_date: '%Y年%m月%d日'}]", date(2026, 1, 5), "2026年01月05日"),
    ("[{map: {a: 1}}]", "a", 1),
    ("[{code_table: levels}]", "critical", 2),
    ("[{regex: '(\\d+)'}]", "No. 42", "42"),
    ("[{split: ';'}]", "a;b", ["a", "b"]),
    ("[{split: ';'}, {join: '/'}]", "a;b", "a/b"),
    ("[{mask: name}]", "张三", "张*"),
    ("[{default: 无}]", None, "无"),
]  # fmt: skip


@pytest.mark.parametrize(("transforms", "value", "expected"), CASES)
def test_list_forms(tmp_path: Path, transforms: str, value: Any, expected: Any) -> None:
    mapping = outbound(tmp_path, f"  out: {{path: v, transforms: {transforms}}}\n")
    assert mapping.apply({"v": value}).get("out") == expected


@pytest.mark.parametrize(
    ("transforms", "words"),
    [
        ("[{mask: passport}]", "choose a mask kind"),
        ("[{split: [1]}]", "must be text"),
        ("[{regex: 5}]", "regular expression"),
        ("[{map: [a]}]", "table of codes"),
        ("[{datetime: {fmt: x}}]", "{format, tz}"),
        ("[{datetime: {tz: Nowhere/City}}]", "unknown time zone"),
        ("[{code_table: nope}]", "no such code table"),
        ("[{regex: a, strip: b}]", "one key per transform"),
    ],
)
def test_bad_list_arguments(tmp_path: Path, transforms: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        outbound(tmp_path, f"  out: {{path: v, transforms: {transforms}}}\n")
    assert words in caught.value.message
    assert caught.value.field.startswith("fields.out.")
    assert caught.value.line == 8


def test_shorthand_order_map_then_type_then_mask_then_default(tmp_path: Path) -> None:
    mapping = outbound(
        tmp_path,
        "  out: {path: v, map: {'1': 13812341234}, type: str, mask: phone, default: 无}\n",
    )
    assert mapping.apply({"v": 1}) == {"out": "138****1234"}
    assert mapping.apply({"v": 2}) == {"out": "无"}  # unknown code → default, not an error
    assert mapping.apply({}) == {"out": "无"}


def test_outbound_takes_one_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one format"):
        outbound(tmp_path, "  out: {path: v, type: datetime, format: ['%Y', '%m']}\n")


def test_map_and_code_table_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose one") as caught:
        outbound(tmp_path, "  out: {path: v, map: {a: 1}, code_table: levels}\n")
    assert caught.value.field == "fields.out.code_table"


def test_when_produces_a_field_only_if_its_path_has_a_value(tmp_path: Path) -> None:
    mapping = outbound(tmp_path, "  out: {const: pc, when: score}\n  keep: {path: v}\n")
    assert mapping.apply({"score": 1, "v": "x"}) == {"out": "pc", "keep": "x"}
    assert mapping.apply({"v": "x"}) == {"keep": "x"}
