"""Loading and running mappings: selectors, nesting, sources, failures and dead letters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hub.mapping import (
    Failure,
    Mapping,
    MappingError,
    StatusUpdate,
    load_mapping,
    map_records,
    parse_page,
)
from hub.model.base import LOCAL_ZONE


def mapping_from(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


XML_MAPPING = """
name: wf_status
direction: inbound
source: xml
target: status_update
namespaces: {wf: "urn:wf"}
record: "//wf:Info"
code_tables:
  states: {待签收: dispatched, 办理中: in_progress}
fields:
  external_id: {path: "wf:id", required: true}
  status: {path: "wf:state", code_table: states, default: in_progress}
  node: {concat: ["wf:node", "' / '", "@kind"]}
  operator: {path: "wf:who", transforms: [strip, upper]}
  updated_at: {path: "wf:at", type: datetime, format: "%Y%m%d%H%M%S"}
  note: "string(wf:logs/wf:log[last()])"
"""

XML_PAGE = b"""<page xmlns="urn:wf">
  <Info kind="k1"><id>7</id><state>\xe5\xbe\x85\xe7\xad\xbe\xe6\x94\xb6</state><node>A</node>
    <who> li </who><at>20260105093000</at><logs><log>one</log><log>two</log></logs></Info>
  <Info kind="k2"><id>8</id><state>unknown</state></Info>
  <Info><state>\xe5\x8a\x9e\xe7\x90\x86\xe4\xb8\xad</state></Info>
</page>"""


def test_xml_records_apply_and_validate(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, XML_MAPPING)
    first, second, third = mapping.records(parse_page(XML_PAGE, "xml"))
    assert mapping.apply(first) == {
        "external_id": "7",
        "status": "dispatched",
        "node": "A / k1",
        "operator": "LI",
        "updated_at": mapping.apply(first)["updated_at"],
        "note": "two",
    }
    assert mapping.apply(first)["updated_at"].tzinfo is LOCAL_ZONE
    # unknown state takes the default; missing parts of a concat are skipped
    assert mapping.apply(second) == {"external_id": "8", "status": "in_progress", "node": " / k2"}
    with pytest.raises(MappingError) as caught:
        mapping.apply(third)
    assert (caught.value.field_path, caught.value.reason) == (
        "external_id",
        "缺少必填字段 (required field missing)",
    )


def test_map_records_keeps_failures_with_the_original_payload(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, XML_MAPPING)
    models, failures = map_records(mapping, mapping.records(parse_page(XML_PAGE, "xml")))
    assert [m.external_id for m in models] == ["7", "8"]  # type: ignore[attr-defined]
    [failure] = failures
    assert isinstance(failure, Failure)
    assert (failure.payload_format, failure.field_path) == ("xml", "external_id")
    assert etree.fromstring(failure.payload.encode()).findtext("{urn:wf}state") == "办理中"


def test_validation_errors_name_the_field(tmp_path: Path) -> None:
    text = XML_MAPPING.replace("default: in_progress", "default: finished_somehow")
    mapping = mapping_from(tmp_path, text)
    second = mapping.records(parse_page(XML_PAGE, "xml"))[1]
    with pytest.raises(MappingError) as caught:
        mapping.to_canonical(second)
    assert caught.value.field_path == "status"
    assert "validation failed" in caught.value.reason


def test_a_bad_value_names_the_field(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, XML_MAPPING)
    record = etree.fromstring(b'<Info xmlns="urn:wf"><id>1</id><at>yesterday</at></Info>')
    with pytest.raises(MappingError) as caught:
        mapping.apply(record)
    assert caught.value.field_path == "updated_at"
    assert isinstance(caught.value, ValueError)


def test_without_selector_the_page_is_the_record(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, XML_MAPPING.replace('record: "//wf:Info"\n', ""))
    page = parse_page(b'<Info xmlns="urn:wf"><id>5</id></Info>', "xml")
    assert [mapping.apply(r)["external_id"] for r in mapping.records(page)] == ["5"]
    assert len(mapping.records(etree.ElementTree(page))) == 1


JSON_MAPPING = """
name: j
direction: inbound
source: json
target: work_order
record: "$.data.items[*]"
fields:
  channel: {const: portal}
  appeal_type: {path: "$.kind", map: {投诉: complaint}, required: true}
  title: "$.title"
  content: "$['正文']"
  requester.phone: {path: "$.who.phones[0]", transforms: [{regex: "(1[3-9]\\\\d{9})"}]}
  requester.anonymous: {path: "$.anon", type: bool, default: false}
  attributes.tags: {path: "$.tags", transforms: [{join: ","}]}
  urgency: {default: normal}
"""


def test_json_selector_nesting_and_defaults(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, JSON_MAPPING)
    page = {
        "data": {
            "items": [
                {
                    "kind": "投诉",
                    "title": "t",
                    "正文": "c",
                    "who": {"phones": ["tel:13812341234"]},
                    "anon": "否",
                    "tags": ["a", "b"],
                },
                {"kind": "投诉", "title": "t", "正文": "c", "anon": "是"},
            ]
        }
    }
    first, second = mapping.records(page)
    assert mapping.apply(first) == {
        "channel": "portal",
        "appeal_type": "complaint",
        "title": "t",
        "content": "c",
        "requester": {"phone": "13812341234", "anonymous": False},
        "attributes": {"tags": "a,b"},
        "urgency": "normal",
    }
    order = mapping.to_canonical(second)
    assert order.requester.anonymous is True  # type: ignore[attr-defined]
    assert mapping.records({"data": {}}) == []


def test_json_failure_payload_is_json(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, JSON_MAPPING)
    record = {"kind": "赞", "title": "t", "正文": "c"}
    _, [failure] = map_records(mapping, [record])
    assert (failure.payload_format, failure.field_path) == ("json", "appeal_type")
    assert json.loads(failure.payload) == record


ROW_MAPPING = """
name: r
direction: inbound
source: row
target: status_update
fields:
  external_id: {path: task_no, type: str, required: true}
  status: {path: status, map: {0: dispatched, 2: resolved}}
  updated_at: {path: updated_at, type: datetime}
"""


def test_rows(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, ROW_MAPPING)
    rows: list[dict[str, Any]] = [
        {"task_no": 12, "status": 2, "updated_at": "2026-01-05T10:00:00"},
        {"task_no": 13, "status": 9},
    ]
    assert mapping.records(rows) == rows
    models, [failure] = map_records(mapping, rows)
    assert models == [
        StatusUpdate(
            external_id="12",
            status="resolved",
            updated_at=mapping.apply(rows[0])["updated_at"],
        )
    ]
    assert (failure.field_path, json.loads(failure.payload)) == ("status", rows[1])


OUTBOUND = """
name: out
direction: outbound
source: canonical
target: soap
fields:
  info.name: {concat: ["'#'", wo_no], required: true}
  info.level: {path: urgency, map: {normal: 0, critical: 2}, default: 0}
  info.table:
    list_of_pairs:
      fields:
        "no": wo_no
        phone: {path: requester.phone, mask: phone}
        missing: requester.email
  info.day: {path: created_at, type: date, format: "%Y年%m月%d日"}
  tags: {path: tags, transforms: [{split: "|"}]}
"""


def test_outbound_shapes(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, OUTBOUND)
    record = {
        "wo_no": "GD1",
        "urgency": "critical",
        "requester": {"phone": "13812341234"},
        "created_at": "2026-01-05T09:00:00+08:00",
        "tags": "a|b",
    }
    assert mapping.apply(record) == {
        "info": {
            "name": "#GD1",
            "level": 2,
            "table": [
                {"fieldName": "no", "fieldValue": "GD1"},
                {"fieldName": "phone", "fieldValue": "138****1234"},
            ],
            "day": "2026年01月05日",
        },
        "tags": ["a", "b"],
    }
    with pytest.raises(MappingError) as caught:
        mapping.apply({"urgency": "normal"})
    assert caught.value.field_path == "info.name"
    with pytest.raises(TypeError):
        mapping.to_canonical(record)


def test_repr_and_attributes(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, OUTBOUND)
    assert (mapping.name, mapping.direction, mapping.source, mapping.target) == (
        "out",
        "outbound",
        "canonical",
        "soap",
    )
    assert "out" in repr(mapping)


def test_failure_can_be_stored_as_a_dead_letter(tmp_path: Path) -> None:
    """The Failure fields line up with hub.store.dead_letters.add_dead_letter's arguments."""
    import inspect

    from hub.store.dead_letters import add_dead_letter

    parameters = inspect.signature(add_dead_letter).parameters
    assert {"payload", "payload_format", "field_path", "reason"} <= set(parameters)


def test_unquoted_yaml_boolean_keys_are_explained(tmp_path: Path) -> None:
    from hub.yamlconf import ConfigError

    with pytest.raises(ConfigError, match="quote keys") as caught:
        mapping_from(tmp_path, OUTBOUND.replace('"no": wo_no', "no: wo_no"))
    assert caught.value.field == "fields.info.table.list_of_pairs.fields"


def test_unexpected_record_shapes_fail_as_mapping_errors(tmp_path: Path) -> None:
    rows = mapping_from(tmp_path, ROW_MAPPING)
    with pytest.raises(MappingError) as caught:
        rows.apply(("12", 2))  # a tuple, not a row mapping
    assert caught.value.field_path == "external_id"
    json_mapping = mapping_from(
        tmp_path, JSON_MAPPING.replace('title: "$.title"', 'title: {concat: ["$.title"]}')
    )
    with pytest.raises(MappingError) as caught:
        json_mapping.apply({"kind": "投诉", "title": {"nested": 1}})
    assert caught.value.field_path == "title"


def test_xml_mapping_refuses_a_non_element(tmp_path: Path) -> None:
    mapping = mapping_from(tmp_path, XML_MAPPING)
    with pytest.raises(MappingError, match="not an XML element"):
        mapping.apply({"id": 1})
    tree = etree.ElementTree(etree.fromstring(b'<Info xmlns="urn:wf"><id>3</id></Info>'))
    assert mapping.apply(tree)["external_id"] == "3"


NESTED_PAGE = b"""<r xmlns="urn:wf" xmlns:o="urn:other"><Info><id>1</id></Info>
  <group><Info><id>2</id><Info><id>3</id></Info></Info><o:Info><id>x</id></o:Info></group>
  <id>4</id><id>5</id></r>"""


@pytest.mark.parametrize("selector", ["//wf:Info", "//Info", "//wf:id/..", "//wf:Info/wf:id"])
def test_descendant_selectors_select_what_xpath_selects(tmp_path: Path, selector: str) -> None:
    """`//name` skips the XPath engine; the records must be the nodes XPath selects."""
    mapping = mapping_from(tmp_path, XML_MAPPING.replace('"//wf:Info"', f'"{selector}"'))
    root = parse_page(NESTED_PAGE, "xml")
    expected = root.xpath(selector, namespaces={"wf": "urn:wf"})
    inner = root[1][0]  # a record element as the page: // still searches the whole document
    assert mapping.records(root) == expected
    assert mapping.records(inner) == expected
    assert mapping.records(root.getroottree()) == expected


TEXTS_ONLY_MAPPING = """
name: wf_plain
direction: inbound
source: xml
target: status_update
namespaces: {wf: "urn:wf"}
record: "//wf:Info"
fields:
  external_id: {path: "wf:id", required: true}
  status: {path: "wf:state", default: in_progress}
  node: {concat: ["wf:node", "' / '", "wf:who"]}
"""


def test_a_mapping_knows_whether_it_reads_only_childrens_texts(tmp_path: Path) -> None:
    plain = mapping_from(tmp_path, TEXTS_ONLY_MAPPING)
    assert plain.reads_child_texts_only
    records = plain.records(parse_page(XML_PAGE, "xml"))
    for record in records[:2]:  # prepared or raw, the same mapping
        assert plain.apply(plain.prepare(record)) == plain.apply(record)
    # an attribute (XPath) or a step below a child reads the element itself
    assert not mapping_from(tmp_path, XML_MAPPING).reads_child_texts_only
    nested = TEXTS_ONLY_MAPPING.replace('"wf:who"', '"wf:logs/wf:log"')
    assert not mapping_from(tmp_path, nested).reads_child_texts_only
