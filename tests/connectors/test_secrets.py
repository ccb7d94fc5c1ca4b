"""Connection ids resolve from AIRFLOW_CONN_* (URI and JSON forms) or Airflow itself."""

from __future__ import annotations

import sys
import types
from typing import ClassVar

import pytest

from hub.adapters.errors import AuthFailed
from hub.connectors.secrets import resolve_connection


def test_uri_form(monkeypatch: pytest.MonkeyPatch) -> None:
    uri = "http://oa%40user:p%40ss%2Fw%3Ard@oa.example.gov.cn:8443/ecology?use_digest=true"
    monkeypatch.setenv("AIRFLOW_CONN_WEAVER_ENV", uri)
    conn = resolve_connection("weaver_env")
    assert (conn.login, conn.password, conn.host, conn.port) == (
        "oa@user",
        "p@ss/w:rd",
        "oa.example.gov.cn",
        8443,
    )
    assert conn.schema == "ecology" and conn.extra == {"use_digest": "true"}
    assert "p@ss" not in repr(conn)


def test_uri_form_with_json_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_X", "http://u:p@h?__extra__=%7B%22a%22%3A+1%7D")
    assert resolve_connection("x").extra == {"a": 1}


def test_json_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SEEYON_URBAN",
        '{"conn_type": "http", "login": "rest", "password": "口令", "host": "seeyon", '
        '"port": 80, "extra": {"tenant": "cg"}}',
    )
    conn = resolve_connection("seeyon_urban")
    assert (conn.login, conn.password, conn.port, conn.extra) == (
        "rest",
        "口令",
        80,
        {"tenant": "cg"},
    )


def test_missing_connection_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID", raising=False)
    with pytest.raises(AuthFailed, match="AIRFLOW_CONN_NOPE"):
        resolve_connection("nope")


def test_inside_airflow_asks_basehook(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeConn:
        conn_type, login, password, host, port, schema = "http", "u", "p", "h", 1, "s"
        extra_dejson: ClassVar[dict[str, str]] = {"k": "v"}

    class BaseHook:
        @classmethod
        def get_connection(cls, conn_id: str) -> FakeConn:
            assert conn_id == "hotline_centre"
            return FakeConn()

    sdk = types.ModuleType("airflow.sdk")
    sdk.BaseHook = BaseHook  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow.sdk", sdk)
    monkeypatch.delenv("AIRFLOW_CONN_HOTLINE_CENTRE", raising=False)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "sync_hotline_centre")
    conn = resolve_connection("hotline_centre")
    assert (conn.login, conn.password, conn.extra) == ("u", "p", {"k": "v"})


def test_airflow_sdk_basehook_exists() -> None:
    from airflow.sdk import BaseHook

    assert callable(BaseHook.get_connection)
