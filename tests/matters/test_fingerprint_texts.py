"""Record fingerprints of an XML mapping that reads only its children's texts cover those
texts: equal digests still mean equal canonical records."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from hub.mapping import load_mapping
from hub.store.fingerprints import digester

MAPPING = """
name: plain_matter
direction: inbound
source: xml
target: service_matter
namespaces: {hb: "urn:hb"}
record: "//hb:Row"
fields:
  implementation_code: {path: "hb:code", required: true}
  basic_code: {path: "hb:basic", required: true}
  name: {path: "hb:name", required: true}
  matter_type: {const: "01"}
  use_level: {const: "4"}
  unit_name: {const: "局"}
"""


def _row(name: str, extra: str = "x") -> etree._Element:
    return etree.fromstring(
        f'<Row xmlns="urn:hb"><code>C1</code><basic>B1</basic><name>{name}</name>'
        f"<unread>{extra}</unread></Row>"
    )


def test_child_text_digests_follow_what_the_mapping_reads(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    mapping = load_mapping(path)
    assert mapping.reads_child_texts_only
    digest = digester(path, "xml", child_texts=True)
    same = digest(mapping.prepare(_row("食品经营许可")))
    assert digest(mapping.prepare(_row("食品经营许可"))) == same
    # a child the mapping never reads changes nothing it could store
    assert digest(mapping.prepare(_row("食品经营许可", extra="y"))) == same
    assert digest(mapping.prepare(_row("药品零售许可"))) != same
    # an empty child is not a missing one
    empty = etree.fromstring('<Row xmlns="urn:hb"><code>C1</code><basic>B1</basic></Row>')
    with_name = etree.fromstring(
        '<Row xmlns="urn:hb"><code>C1</code><basic>B1</basic><name/></Row>'
    )
    assert digest(mapping.prepare(empty)) != digest(mapping.prepare(with_name))
    # never mistaken for a digest of the whole element
    assert digester(path, "xml")(_row("食品经营许可")) != same
