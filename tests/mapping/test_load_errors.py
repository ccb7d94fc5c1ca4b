"""A broken mapping file fails at load with the file, the exact line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.mapping import load_mapping, load_mappings
from hub.yamlconf import ConfigError

HEADER = """\
name: broken
direction: inbound
source: xml
target: status_update
namespaces: {wf: "http://weaver.example/wf"}
"""
GOOD_FIELDS = """\
fields:
  external_id: {path: "wf:requestId", required: true}
  status:
    path: "wf:status"
    map: {办理中: in_progress}
"""


def write(tmp_path: Path, text: str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_containing(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``, computed from the text."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    return caught.value


CASES = [
    # (what, file text, field path, text on the expected line, words in the message)
    (
        "unknown transform name",
        HEADER + GOOD_FIELDS + "  node: {path: 'wf:node', transforms: [strip, frobnicate]}\n",
        "fields.node.transforms[1]",
        "frobnicate",
        "unknown transform",
    ),
    (
        "unknown transform with an argument",
        HEADER + GOOD_FIELDS + "  node:\n    path: 'wf:node'\n    transforms:\n"
        "      - {reverse: yes}\n",
        "fields.node.transforms[0].reverse",
        "reverse",
        "unknown transform",
    ),
    (
        "bad regex",
        HEADER + GOOD_FIELDS + "  note: {path: 'wf:r', transforms: [{regex: '(unclosed'}]}\n",
        "fields.note.transforms[0].regex",
        "(unclosed",
        "bad regex",
    ),
    (
        "bad XPath",
        HEADER + GOOD_FIELDS + "  node: {path: 'wf:node[', required: true}\n",
        "fields.node.path",
        "wf:node[",
        "invalid XPath",
    ),
    (
        "undeclared namespace prefix",
        HEADER + GOOD_FIELDS + "  node: {path: 'x:node'}\n",
        "fields.node.path",
        "x:node",
        "undeclared namespace prefix",
    ),
    (
        "undeclared prefix inside a full XPath",
        HEADER + GOOD_FIELDS + "  node: {path: 'string(q:a/@b)'}\n",
        "fields.node.path",
        "q:a",
        "invalid XPath",
    ),
    (
        "wrong type name",
        HEADER + GOOD_FIELDS + "  updated_at: {path: 'wf:t', type: timestamp}\n",
        "fields.updated_at.type",
        "timestamp",
        "Input should be",
    ),
    (
        "map that is not a table",
        HEADER + "fields:\n  external_id: 'wf:id'\n  status:\n    path: 'wf:s'\n"
        "    map: [待签收, 办理中]\n",
        "fields.status.map",
        "map:",
        "dictionary",
    ),
    (
        "misspelt key",
        HEADER + GOOD_FIELDS + "  node: {path: 'wf:node', defualt: 无}\n",
        "fields.node.defualt",
        "defualt",
        "Extra inputs",
    ),
    (
        "unknown code table",
        HEADER + "code_tables:\n  states: {a: resolved}\nfields:\n  external_id: 'wf:id'\n"
        "  status: {path: 'wf:s', code_table: statuses}\n",
        "fields.status.code_table",
        "code_table: statuses",
        "no such code table",
    ),
    (
        "field the target model lacks",
        HEADER + GOOD_FIELDS + "  operater: 'wf:op'\n",
        "fields.operater",
        "operater",
        "no such field",
    ),
    (
        "bad time zone",
        HEADER + GOOD_FIELDS + "  updated_at: {path: 'wf:t', type: datetime, tz: Mars/Olympus}\n",
        "fields.updated_at.tz",
        "Mars",
        "unknown time zone",
    ),
    (
        "format without a date type",
        HEADER + GOOD_FIELDS + "  node: {path: 'wf:n', format: '%Y'}\n",
        "fields.node.format",
        "'%Y'",
        "needs a date type",
    ),
    (
        "two sources",
        HEADER + GOOD_FIELDS + "  node: {path: 'wf:n', const: x}\n",
        "fields.node",
        "const: x",
        "choose one source",
    ),
    (
        "bad record selector",
        HEADER + "record: '//wf:Info['\n" + GOOD_FIELDS,
        "record",
        "record:",
        "invalid record selector",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "needle", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_load_error_names_file_line_and_field(
    tmp_path: Path, text: str, field: str, needle: str, words: str
) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert (error.path, error.field) == (str(path), field)
    assert error.line == line_containing(text, needle)
    assert words in error.message
    assert f"{path}:{error.line}: {field}:" in str(error)


@pytest.mark.parametrize(
    ("header", "field", "needle"),
    [
        (HEADER.replace("status_update", "complaint_ticket"), "target", "target:"),
        (HEADER.replace("source: xml", "source: canonical"), "source", "source:"),
        (HEADER.replace("direction: inbound", "direction: sideways"), "direction", "direction:"),
    ],
)
def test_header_errors(tmp_path: Path, header: str, field: str, needle: str) -> None:
    text = header + GOOD_FIELDS
    error = load_error(write(tmp_path, text))
    assert error.field == field
    assert error.line == line_containing(text, needle)


def test_outbound_must_read_canonical_and_write_a_known_shape(tmp_path: Path) -> None:
    text = "name: o\ndirection: outbound\nsource: canonical\ntarget: xml\nfields:\n  a: wo_no\n"
    error = load_error(write(tmp_path, text))
    assert (error.field, error.line) == ("target", 4)


def test_bad_json_path(tmp_path: Path) -> None:
    text = (
        "name: j\ndirection: inbound\nsource: json\ntarget: status_update\nfields:\n"
        "  external_id: '$.flowId'\n  status: {path: '$.state[x]', map: {1: resolved}}\n"
    )
    error = load_error(write(tmp_path, text))
    assert (error.field, error.line) == ("fields.status.path", 7)
    assert "cannot parse JSON path" in error.message


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    text = HEADER + "fields:\n  status: {path: 'wf:s'\n  node: x\n"
    error = load_error(write(tmp_path, text))
    assert error.line is not None and error.line >= line_containing(text, "status:")
    assert "syntax error" in error.message


def test_duplicate_names_in_a_folder(tmp_path: Path) -> None:
    write(tmp_path, HEADER + GOOD_FIELDS, "a.yaml")
    second = write(tmp_path, HEADER + GOOD_FIELDS, "b.yaml")
    with pytest.raises(ConfigError) as caught:
        load_mappings(tmp_path)
    assert (caught.value.path, caught.value.field, caught.value.line) == (str(second), "name", 1)
    assert "duplicate" in caught.value.message
