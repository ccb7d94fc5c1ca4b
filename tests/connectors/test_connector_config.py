"""Connector YAML: the shipped examples load; every mistake names file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from hub.config import REPO_ROOT
from hub.connectors import check_hosts, load_connector, load_connectors
from hub.connectors.allowlist import AllowList
from hub.yamlconf import ConfigError

UNITS = {
    u["code"] for u in yaml.safe_load((REPO_ROOT / "policies/org_units.yaml").read_text())["units"]
}

GOOD = """\
name: demo
kind: rest
unit: JKQ-CGJ
endpoint:
  url: https://oa.example.gov.cn
connection: demo
auth:
  kind: api_key
  header: X-API-Key
streams:
  - name: orders
    path: /api/orders
    mapping: m_orders
operations:
  - name: create
    path: /api/start
    mapping: m_start
"""


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error(tmp_path: Path, text: str, name: str = "demo") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_connector(write(tmp_path, text, name), known_units=UNITS)
    return caught.value


def test_shipped_examples_load_and_match_org_units() -> None:
    connectors = load_connectors(REPO_ROOT / "connectors", known_units=UNITS)
    assert set(connectors) == {
        "weaver_env",
        "seeyon_urban",
        "tongda_housing",
        "hebei_network",
        "hotline_centre",
        "inbox_town",
    }
    units = yaml.safe_load((REPO_ROOT / "policies/org_units.yaml").read_text())["units"]
    for unit in units:
        if unit.get("connector"):
            assert connectors[unit["connector"]].unit == unit["code"]
    assert connectors["tongda_housing"].writes
    assert connectors["hebei_network"].stream("matters").cursor.lookback == "10m"  # type: ignore[union-attr]


def test_shipped_examples_pass_the_host_check_on_loopback() -> None:
    allow = AllowList(("127.0.0.1",))
    for path in sorted((REPO_ROOT / "connectors").glob("*.yaml")):
        check_hosts(path, load_connector(path), allow)


def test_good_config(tmp_path: Path) -> None:
    config = load_connector(write(tmp_path, GOOD), known_units=UNITS)
    assert config.operation("create").kind == "create"
    assert config.timeouts.read == 30 and config.endpoint.verify


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "says"),
    [
        ("kind: rest", "kind: ftp", 2, "kind", "'soap', 'rest', 'sql' or 'inbox'"),
        ("unit: JKQ-CGJ", "unit: JKQ-NOPE", 3, "unit", "unknown org unit"),
        (
            "  url: https://oa.example.gov.cn",
            "  url: https://oa.example.gov.cn\n  verfy: false",
            6,
            "endpoint.verfy",
            "Extra inputs",
        ),
        (
            "    path: /api/orders\n",
            "    path: /api/orders\n    schedule: sometimes\n",
            13,
            "streams[0].schedule",
            "duration",
        ),
        (
            "    mapping: m_start",
            "    mapping: m_start\n    idempotency_lookup: status",
            18,
            "operations[0].idempotency_lookup",
            "no such operation",
        ),
        ("  - name: create", "  - name: delete", 15, "operations[0].name", "pattern"),
        (
            "    path: /api/orders",
            "    operation: listOrders",
            12,
            "streams[0].operation",
            "not valid for this kind",
        ),
        ("name: demo", "name: other", 1, "name", "file name"),
        ("connection: demo\n", "", 7, "auth.kind", "needs connection"),
        ("  header: X-API-Key\n", "", 8, "auth", "header"),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, says: str
) -> None:
    assert old in GOOD
    err = error(tmp_path, GOOD.replace(old, new, 1))
    assert err.path.endswith("demo.yaml")
    assert (err.line, err.field) == (line, field)
    assert says in err.message


def test_duplicate_stream_names(tmp_path: Path) -> None:
    text = GOOD.replace(
        "operations:", "  - name: orders\n    path: /x\n    mapping: m\noperations:"
    )
    err = error(tmp_path, text)
    assert (err.line, err.field) == (14, "streams[1].name")


@pytest.mark.parametrize(
    ("snippet", "line", "field"),
    [
        ("password: hunter2", 19, "password"),
        ("auth_token: abc", 19, "auth_token"),
        ("extra:\n  client_secret: xyz", 20, "extra.client_secret"),
    ],
)
def test_secret_in_yaml_refused(tmp_path: Path, snippet: str, line: int, field: str) -> None:
    err = error(tmp_path, GOOD + "\n" + snippet + "\n")
    assert (err.line, err.field) == (line, field)
    assert "connection" in err.message and "hunter2" not in str(err)


def test_secret_key_without_value_is_fine_until_schema(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD + "password:\n")
    assert err.field == "password" and "Extra inputs" in err.message


def test_password_inside_url_refused(tmp_path: Path) -> None:
    err = error(tmp_path, GOOD.replace("https://oa.example", "https://admin:pw@oa.example"))
    assert (err.line, err.field) == (5, "endpoint.url")


def test_tls_off_needs_reason(tmp_path: Path) -> None:
    off = GOOD.replace(
        "  url: https://oa.example.gov.cn", "  url: https://oa.example.gov.cn\n  verify: false"
    )
    err = error(tmp_path, off)
    assert err.field == "endpoint" and "insecure_tls_reason" in err.message
    ok = off.replace(
        "verify: false",
        "verify: false\n  insecure_tls_reason: 自签名证书，已报备 (self-signed, filed)",
    )
    assert not load_connector(write(tmp_path, ok)).endpoint.verify


def test_kind_specific_requirements(tmp_path: Path) -> None:
    soap = "name: demo\nkind: soap\nunit: JKQ-HBJ\n"
    assert error(tmp_path, soap).field == "endpoint.wsdl"
    missing = soap + "endpoint:\n  wsdl: wsdl/missing.wsdl\n"
    err = error(tmp_path, missing)
    assert (err.line, err.field) == (5, "endpoint.wsdl") and "not found" in err.message
    sql = "name: demo\nkind: sql\nunit: JKQ-ZJJ\nendpoint:\n  url: postgresql://u:pw@db/x\n"
    assert error(tmp_path, sql).field == "endpoint.url"
    ws = (
        "name: demo\nkind: rest\nunit: JKQ-CGJ\nendpoint: {url: 'https://a.gov.cn'}\n"
        "auth: {kind: ws_security}\nconnection: x\n"
    )
    assert error(tmp_path, ws).field == "auth.kind"
    sql_write = (
        "name: demo\nkind: sql\nunit: JKQ-ZJJ\nendpoint: {url: 'sqlite:///x.db'}\n"
        "operations:\n  - {name: create, table: t, mapping: m}\n"
    )
    assert error(tmp_path, sql_write).field == "operations[0].write"


def test_yaml_syntax_and_encoding_errors(tmp_path: Path) -> None:
    assert error(tmp_path, "name: demo\nkind: [rest\n").line is not None
    path = tmp_path / "demo.yaml"
    path.write_bytes("name: 演示\n".encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_connector(path)


def test_load_connectors_reports_the_broken_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("name: demo", "name: zz").replace("kind: rest", "kind: x"), "zz")
    with pytest.raises(ConfigError) as caught:
        load_connectors(tmp_path)
    assert caught.value.path.endswith("zz.yaml") and caught.value.line == 2


def test_check_hosts_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    config = load_connector(path)
    check_hosts(path, config, AllowList(("*.gov.cn",), resolver=lambda _h: ["59.1.2.3"]))
    with pytest.raises(ConfigError) as caught:
        check_hosts(path, config, AllowList(("*.gov.cn",), resolver=lambda _h: ["10.0.0.5"]))
    assert (caught.value.line, caught.value.field) == (5, "endpoint.url")
    with pytest.raises(ConfigError, match="allow-list"):
        check_hosts(path, config, AllowList(("example.com",)))
