"""The fast paths give what the slow, obvious ones give: generated field code, XML walks,
JSON parsing by pydantic-core and ISO-shaped date-times."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from hub.mapping import Mapping, MappingError, load_mapping, load_mappings, parse_json
from hub.mapping import transforms as t
from hub.mapping.parsing import _decode
from hub.mapping.sources import XmlSource
from hub.model.base import LOCAL_ZONE

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def mapping_from(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


def test_every_shipped_mapping_gets_a_fast_path() -> None:
    mappings = load_mappings(MAPPINGS)
    assert mappings
    assert [name for name, m in mappings.items() if m._fast is None] == []


# --- generated field code against the field rules -------------------------------------

EVERYTHING = """
name: everything
direction: inbound
source: json
target: work_order
fields:
  channel: {const: hotline}
  source_system: {const: null, default: sys}
  external_id: {path: "$.id", type: str, required: true}
  appeal_type: {path: "$.type", map: {投诉: complaint, "1": help}, required: true}
  title: {path: "$.text", transforms: [strip, {regex: "^(.{1,5})"}], required: true}
  content: {concat: ["'['", "$.text", "$.more"]}
  urgency: {path: "$.urgency", map: {一般: normal, 紧急: urgent}, default: normal}
  category_code: {path: "$.cat", transforms: [upper, {regex: "[A-Z]+"}], when: "$.flag"}
  location.address: {path: "$.where.address", transforms: [lower]}
  location.latitude: {path: "$.where.lat", type: float}
  requester.name: {path: "$.who.name", mask: name}
  requester.phone: {path: "$.who.phones[0]", transforms: [strip, {regex: "(1[3-9]\\\\d{9})"}]}
  requester.anonymous: {path: "$.anon", type: bool, default: false}
  attributes.tags: {path: "$.tags[*]", transforms: [{join: ","}]}
  attributes.n: {path: "$.n", type: int}
  occurred_at: {path: "$.at", type: datetime, format: "%Y-%m-%d %H:%M:%S"}
"""

texts = st.sampled_from(
    [
        "",
        " ",
        "投诉",
        "1",
        "一般",
        "紧急",
        "x",
        " 夜间施工噪音 ",
        "abc",
        "13812345678",
        "2026-01-05 09:30:00",
    ]
) | st.text(max_size=12)
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
KEYS = [
    "id",
    "type",
    "text",
    "more",
    "urgency",
    "cat",
    "flag",
    "where",
    "who",
    "anon",
    "tags",
    "n",
    "at",
]
records = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["7", 7, " ", None]),
        "type": st.sampled_from(["投诉", "1", 1, "x"]),
        "text": st.sampled_from([" 夜间施工噪音扰民 ", "ab", "", 5]),
    },
    optional={
        **{key: values for key in KEYS[3:]},
        "where": st.fixed_dictionaries({}, optional={"address": values, "lat": values}) | values,
        "who": st.fixed_dictionaries({}, optional={"name": values, "phones": values}) | values,
    },
)


def outcome(run: Any, record: Any) -> tuple[str, Any]:
    try:
        return "ok", run(record)
    except MappingError as exc:
        return "error", (exc.field_path, exc.reason)
    except Exception as exc:
        return "raised", type(exc)


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Mapping:
    return mapping_from(tmp_path_factory.mktemp("m"), EVERYTHING)


@settings(max_examples=400, deadline=None)
@given(record=records | values)
def test_generated_code_maps_as_the_rules_do(everything: Mapping, record: Any) -> None:
    assert everything._fast is not None
    slow = outcome(everything._apply_rules, record)
    fast = outcome(everything._fast, record)
    if slow[0] == "ok":
        assert fast == slow
        assert list(fast[1]) == list(slow[1])  # same key order, for outbound bodies
    else:
        assert fast[0] != "ok"  # it gives up, and apply takes the rules' error
    assert outcome(everything.apply, record) == slow


def test_generated_code_on_a_full_record(everything: Mapping) -> None:
    record = {
        "id": 7,
        "type": "投诉",
        "text": " 夜间施工噪音扰民 ",
        "urgency": "紧急",
        "cat": "env-noise",
        "flag": 1,
        "where": {"address": "ABC", "lat": "38.04"},
        "who": {"name": "王五", "phones": [" 13812345678 "]},
        "anon": "否",
        "tags": ["a", "b"],
        "n": "12",
        "at": "2026-01-05 09:30:00",
    }
    assert everything._fast is not None
    assert everything._fast(record) == everything._apply_rules(record)
    assert everything.apply(record)["occurred_at"].tzinfo is LOCAL_ZONE


TYPED = """
name: typed
direction: inbound
source: json
target: work_order
fields:
  external_id: {path: "$.id", required: true}
  attributes.at: {path: "$.at", type: datetime, format: ["%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S"]}
  attributes.swapped:
    {path: "$.sw", type: datetime, format: ["%Y-%m-%d %H:%M:%S", "%Y-%d-%m %H:%M:%S"]}
  attributes.day: {path: "$.day", type: datetime, format: ["%Y-%m-%d", "%d/%m/%Y"], tz: UTC}
  attributes.n: {path: "$.n", type: int, default: 0}
  attributes.flag: {path: "$.flag", type: bool}
"""


@st.composite
def date_texts(draw: st.DrawFn) -> str:
    """ISO shapes with any digits (month 13, day 31 in February …), and other shapes."""
    d = [draw(st.text(alphabet="0123456789", min_size=2, max_size=2)) for _ in range(6)]
    year = draw(st.sampled_from(["2026", "1999", "0000", "9999"]))
    return draw(
        st.sampled_from(
            [
                f"{year}-{d[0]}-{d[1]} {d[2]}:{d[3]}:{d[4]}",
                f" {year}-{d[0]}-{d[1]} {d[2]}:{d[3]}:{d[4]} ",
                f"{year}{d[0]}{d[1]}{d[2]}{d[3]}{d[4]}",
                f"{year}-{d[0]}-{d[1]}",
                f"{d[1]}/{d[0]}/{year}",
                f"{year}-{d[0]}-{d[1]}T{d[2]}:{d[3]}:{d[4]}",
                "2026-02-13 10:00:00",
                "2026-13-02 10:00:00",  # not ISO; the second format reads it
            ]
        )
    )


typed_values = (
    date_texts()
    | st.sampled_from(["12", " -7 ", "+3", "12.0", "1e3", "0x10", "１２", "是", " TRUE ", "off"])
    | st.sampled_from(["", " ", "否", "maybe", "1", "0"])
    | scalars
)
typed_records = st.fixed_dictionaries(
    {"id": st.just("7")},
    optional={key: typed_values for key in ("at", "sw", "day", "n", "flag")},
)


@settings(max_examples=600, deadline=None)
@given(record=typed_records)
def test_inlined_types_map_as_the_rules_do(
    tmp_path_factory: pytest.TempPathFactory, record: Any
) -> None:
    """Date-times whose first format is ISO-shaped (with more formats after it), whole
    numbers and booleans, inlined: the same values, or the rules' error."""
    typed = _typed(tmp_path_factory)
    slow = outcome(typed._apply_rules, record)
    fast = outcome(typed._fast, record)
    if slow[0] == "ok" and not _gives_up(record):
        assert fast == slow
        for key, value in slow[1].get("attributes", {}).items():
            assert type(fast[1]["attributes"][key]) is type(value)
            if isinstance(value, datetime):
                assert fast[1]["attributes"][key].tzinfo is value.tzinfo
    else:
        assert fast[0] != "ok"
    assert outcome(typed.apply, record) == slow


#: The typed mapping's date-time fields and their first formats.
_FIRST_FORMATS = {"at": "%Y-%m-%d %H:%M:%S", "sw": "%Y-%m-%d %H:%M:%S", "day": "%Y-%m-%d"}


def _gives_up(record: Any) -> bool:
    """The one case the fast path leaves to the rules by design: a date-time of its first
    format's ISO shape that fromisoformat refuses (month 13 …), which a later format may
    still read. Then it raises, and `apply` runs the rules (asserted below)."""
    for key, first in _FIRST_FORMATS.items():
        value = record.get(key)
        fits = t.iso_first_shape([first])
        if isinstance(value, str) and fits is not None and fits(value.strip()) is not None:
            try:
                datetime.fromisoformat(value.strip())
            except ValueError:
                return True
    return False


_TYPED: list[Mapping] = []


def _typed(factory: pytest.TempPathFactory) -> Mapping:
    if not _TYPED:
        mapping = mapping_from(factory.mktemp("typed"), TYPED)
        assert mapping._fast is not None
        bound = [name.rstrip("0123456789") for name in mapping._fast.__globals__]
        # every date-time, the number and the boolean are inlined, not called
        assert (bound.count("fits"), bound.count("plain"), bound.count("true")) == (3, 1, 1)
        _TYPED.append(mapping)
    return _TYPED[0]


def test_a_date_the_first_format_refuses_is_read_by_the_next(tmp_path: Path) -> None:
    typed = mapping_from(tmp_path, TYPED)
    record = {"id": "7", "sw": "2026-13-02 10:00:00", "at": "20260102030405"}
    assert typed.apply(record) == typed._apply_rules(record)
    assert typed.apply(record)["attributes"]["swapped"] == datetime(
        2026, 2, 13, 10, tzinfo=LOCAL_ZONE
    )
    assert typed.apply(record)["attributes"]["at"] == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=LOCAL_ZONE
    )


def test_a_failing_record_reports_the_rules_error(everything: Mapping) -> None:
    with pytest.raises(MappingError) as caught:
        everything.apply({"id": "1", "type": "unknown", "text": "t"})
    assert (caught.value.field_path, caught.value.reason) == (
        "appeal_type",
        "代码不在代码表中 (code not in the code table)",
    )


def test_no_fast_path_when_a_target_is_inside_another(tmp_path: Path) -> None:
    mapping = mapping_from(
        tmp_path,
        "name: n\ndirection: outbound\nsource: canonical\ntarget: json\n"
        "fields:\n  a: origin\n  a.b: {const: 1}\n",
    )
    assert mapping._fast is None
    assert mapping.apply({"origin": {"x": 2}}) == {"a": {"x": 2, "b": 1}}


# --- XML: child walks and the parent selector against the XPath engine ---------------

NS = {"p": "urn:p"}
tags = st.sampled_from(["a", "b", "{urn:p}a", "{urn:p}b"])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    element = etree.Element(draw(tags), nsmap={"p": "urn:p"})
    element.text = draw(st.sampled_from([None, "", "t", "u"]))
    if depth < 3:
        for child in draw(st.lists(trees(depth + 1), max_size=3)):
            element.append(child)
    return element


paths = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "p:a", "p:b"]),
        st.sampled_from(["", "[1]", "[2]", "[last()]"]),
    ),
    min_size=1,
    max_size=3,
).map(lambda steps: "/".join(name + position for name, position in steps))


@settings(max_examples=300, deadline=None)
@given(tree=trees(), path=paths)
def test_child_walk_reads_what_the_xpath_reads(tree: etree._Element, path: str) -> None:
    source = XmlSource(NS)
    walked = source.getter(path)
    by_xpath = etree.XPath(path, namespaces=NS)
    found = by_xpath(tree)
    expected = (found[0].text or None) if found else None
    record = source.prepare(tree)
    assert walked(record) == expected


@settings(max_examples=300, deadline=None)
@given(tree=trees(), name=st.sampled_from(["a", "p:b"]))
def test_parent_selector_selects_what_the_xpath_selects(tree: etree._Element, name: str) -> None:
    select = XmlSource(NS).selector(f"//{name}/..")
    expected = [
        n for n in etree.XPath(f"//{name}/..", namespaces=NS)(tree) if isinstance(n, etree._Element)
    ]
    assert select(tree) == expected
    assert select(tree.getroottree()) == expected


# --- JSON parsing: pydantic-core first, json for everything it refuses ---------------


def by_json(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", json.loads(raw if raw.isascii() else _decode(raw, None))
    except (json.JSONDecodeError, MappingError, RecursionError):
        return "error", None
    except Exception as exc:
        return "raised", type(exc)


def by_engine(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse_json(raw)
    except MappingError:
        return "error", None
    except Exception as exc:
        return "raised", type(exc)


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    value=json_values, ascii_only=st.booleans(), cut=st.integers(0, 4), junk=st.binary(max_size=3)
)
def test_json_parsing_matches_json(value: Any, ascii_only: bool, cut: int, junk: bytes) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    for variant in (raw, raw[: max(0, len(raw) - cut)] + junk, b"\xef\xbb\xbf" + raw):
        expected, got = by_json(variant), by_engine(variant)
        assert expected[0] == got[0]
        assert same(expected[1], got[1]) if expected[0] == "ok" else expected == got


def test_json_refused_by_the_fast_parser_still_parses_as_before() -> None:
    assert parse_json('{"a": "中"}'.encode("gb18030")) == {"a": "中"}
    assert parse_json(b'"\\ud800"') == "\ud800"  # a lone surrogate, as json reads it
    assert parse_json(b"[" * 300 + b"]" * 300) is not None  # deeper than jiter's limit
    with pytest.raises(MappingError, match="malformed JSON"):
        parse_json(b'{"a": }')


# --- date-times: fromisoformat only where strptime reads the same ----------------------

digits = st.text(alphabet="0123456789", min_size=2, max_size=2)


@settings(max_examples=400, deadline=None)
@given(
    year=st.text(alphabet="0123456789", min_size=4, max_size=4),
    parts=st.lists(digits, min_size=5, max_size=5),
)
def test_iso_shaped_text_parses_as_strptime_would(year: str, parts: list[str]) -> None:
    month, day, hour, minute, second = parts
    for fmt, text in (
        ("%Y-%m-%d %H:%M:%S", f"{year}-{month}-{day} {hour}:{minute}:{second}"),
        ("%Y-%m-%dT%H:%M:%S", f"{year}-{month}-{day}T{hour}:{minute}:{second}"),
        ("%Y-%m-%d", f"{year}-{month}-{day}"),
    ):
        assert_parses_like_strptime(text, fmt)


def assert_parses_like_strptime(text: str, fmt: str) -> None:
    """The mapping's date-time transform accepts exactly what strptime accepts, alike."""
    expected = None
    with contextlib.suppress(ValueError):
        expected = datetime.strptime(text, fmt).replace(tzinfo=LOCAL_ZONE)
    parse = t.parse_datetime([fmt], LOCAL_ZONE)
    if expected is None:
        with pytest.raises(MappingError):
            parse(text)
    else:
        assert parse(text) == expected
        assert parse(text).tzinfo is LOCAL_ZONE


@pytest.mark.parametrize(
    "text",
    ["2026-01-05 09:07+08", "20260105 09:07:00Z", "2026-1-05 09:07:00", "2026-01-05 9:07:00"],
)
def test_other_text_is_read_by_strptime(text: str) -> None:
    assert_parses_like_strptime(text, "%Y-%m-%d %H:%M:%S")


# --- the cursor column of a prepared XML record -------------------------------------

READER = """
name: reader
direction: inbound
source: xml
target: service_matter
namespaces: {hb: "urn:hb"}
record: "//hb:Row"
fields:
  implementation_code: {path: "hb:code", required: true}
  changed_at: {path: "hb:cd_time"}
"""


@pytest.mark.parametrize(
    "children",
    [
        "<hb:code>1</hb:code><hb:cd_time>2026-01-05 09:30:00</hb:cd_time>",
        "<hb:cd_time>first</hb:cd_time><hb:cd_time>second</hb:cd_time>",
        "<hb:cd_time/><hb:cd_time>later</hb:cd_time>",
        "<hb:cd_time><x/>tail</hb:cd_time>",
        "<hb:code>no time</hb:code>",
        "<cd_time>no namespace</cd_time>",
        "",
    ],
)
def test_a_prepared_record_reads_its_cursor_as_the_element_does(
    tmp_path: Path, children: str
) -> None:
    mapping = mapping_from(tmp_path, READER)
    element = etree.fromstring(f'<hb:Row xmlns:hb="urn:hb">{children}</hb:Row>')
    prepared = mapping.prepare(element)
    for path in ("hb:cd_time", "hb:code", "hb:other", "cd_time"):
        read = mapping.reader(path)
        assert (
            read(prepared)
            == read(element)
            == (element.findtext(path.replace("hb:", "{urn:hb}")) or None)
        )
