"""Hostile and badly encoded input is refused fast, with MappingError, expanding nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.mapping import MappingError, parse_page

#: Sanity guard only: refusals take well under 100 ms; a slow CI box must not flake.
GUARD_SECONDS = 1.0

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<WorkflowRequestInfo><requestId>&xxe;</requestId></WorkflowRequestInfo>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!doctype WorkflowRequestInfo SYSTEM "http://203.0.113.9/evil.dtd">
<WorkflowRequestInfo><requestId>1</requestId></WorkflowRequestInfo>"""


def timed(action: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.perf_counter()
    with pytest.raises(MappingError) as caught:
        action()
    return caught.value, time.perf_counter() - started


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, XXE, EXTERNAL_DTD, XXE.decode().encode("utf-16")],
    ids=["billion-laughs", "xxe-etc-passwd", "external-dtd", "xxe-utf16"],
)
def test_hostile_xml_is_refused_fast(document: bytes) -> None:
    error, elapsed = timed(lambda: parse_page(document, "xml"))
    assert elapsed < GUARD_SECONDS
    assert "DOCTYPE" in str(error)
    assert "root:" not in str(error) and "lollol" not in str(error)


def test_doctype_check_does_not_trip_on_comments_or_cdata() -> None:
    page = parse_page(b"<r><!-- note --><a><![CDATA[<!DOCTYPE is text here>]]></a></r>", "xml")
    assert page.findtext("a") == "<!DOCTYPE is text here>"


def test_undeclared_entity_is_malformed_not_expanded() -> None:
    with pytest.raises(MappingError, match="malformed XML"):
        parse_page(b"<r>&xxe;</r>", "xml")


def test_gbk_declared_xml_parses() -> None:
    raw = '<?xml version="1.0" encoding="GBK"?><r><name>经开区</name></r>'.encode("gbk")
    assert parse_page(raw, "xml").findtext("name") == "经开区"


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (b'<?xml version="1.0" encoding="UTF-8"?><r>\xff\xfe</r>', None),
        ("<r>经开区</r>".encode("gbk"), None),  # GBK bytes without a declaration
        (b"<r>\x81\x20</r>", "gbk"),  # a GBK lead byte followed by an invalid trail byte
    ],
    ids=["invalid-utf8", "undeclared-gbk", "invalid-gbk"],
)
def test_badly_encoded_xml(raw: bytes, encoding: str | None) -> None:
    with pytest.raises(MappingError, match="malformed XML"):
        parse_page(raw, "xml", encoding)


def test_json_encodings() -> None:
    assert parse_page('{"a": "经开"}'.encode(), "json") == {"a": "经开"}
    assert parse_page('\ufeff{"a": 1}'.encode(), "json") == {"a": 1}
    assert parse_page('{"a": "经开"}'.encode("gbk"), "json") == {"a": "经开"}
    assert parse_page('{"a": "䶮"}'.encode("gb18030"), "json", "gb18030") == {"a": "䶮"}


@pytest.mark.parametrize(
    ("raw", "encoding", "words"),
    [
        (b'{"a": "\xff\xff"}', None, "not valid"),
        ('{"a": "经开"}'.encode("gbk"), "utf-8", "not valid utf-8"),
        (b'{"a": "\x81\x20"}', "gbk", "not valid gbk"),
        (b'{"a": 1', None, "malformed JSON"),
        (b"{}", "klingon", "unknown encoding"),
        (b"[" * 100_000 + b"]" * 100_000, None, "JSON"),
    ],
    ids=["invalid-bytes", "gbk-as-utf8", "invalid-gbk", "truncated", "unknown-encoding", "deep"],
)
def test_bad_json(raw: bytes, encoding: str | None, words: str) -> None:
    with pytest.raises(MappingError, match=words):
        parse_page(raw, "json", encoding)


def test_rows_are_not_parsed_here() -> None:
    with pytest.raises(ValueError, match="only xml or json"):
        parse_page(b"", "row")  # type: ignore[arg-type]


def test_no_file_is_read_by_an_xxe(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    attack = f'<!DOCTYPE r [<!ENTITY s SYSTEM "file://{secret}">]><r>&s;</r>'.encode()
    error, _ = timed(lambda: parse_page(attack, "xml"))
    assert "TOP-SECRET" not in str(error)
