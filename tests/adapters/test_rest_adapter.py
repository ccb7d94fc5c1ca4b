"""REST adapter against a real loopback server: auth, charsets, caps, redirects, resilience."""

from __future__ import annotations

import json
import socket

import pytest
from servers import (  # noqa: F401 - server_fixture provides `server`
    LOOPBACK,
    FixtureServer,
    Seen,
    connector,
    json_reply,
    server_fixture,
)

from hub.adapters.errors import (
    BlockedHost,
    CircuitOpen,
    DecodeFailed,
    HttpStatusError,
    ResponseTooLarge,
    TransportFailed,
)
from hub.adapters.resilience import CircuitBreaker, Resilience, Retrier, TokenBucket
from hub.adapters.rest import RestAdapter
from hub.connectors.allowlist import AllowList
from hub.connectors.secrets import Connection

OPS = [
    {"name": "status", "path": "/flow/state/{flowId}", "method": "GET", "mapping": "m_state"},
    {"name": "create", "path": "/start", "method": "POST", "mapping": "m_start"},
]


def rest(server: FixtureServer, **fields: object) -> RestAdapter:
    config = connector("rest", endpoint={"url": server.url}, operations=OPS, **fields)
    return RestAdapter(
        config, allow=LOOPBACK, connection=Connection("c", login="u", password="p/w")
    )


def test_token_endpoint_login_and_refresh_on_401(server: FixtureServer) -> None:
    tokens = iter(["t1", "t2"])
    server.route("GET", "/token/u/p%2Fw", lambda _: json_reply(json.dumps({"id": next(tokens)})))

    def state(seen: Seen):  # type: ignore[no-untyped-def]
        if seen.headers.get("token") != "t2":
            return json_reply('{"error": "expired"}', 401)
        return json_reply('{"state": 1}')

    server.route("GET", "/flow/state/F-1", state)
    auth = {
        "kind": "token_endpoint",
        "token_endpoint": {
            "url": server.url + "/token/{login}/{password}",
            "method": "GET",
            "send_as": "path",
            "token_path": "id",
            "header": "token",
            "prefix": "",
        },
    }
    adapter = rest(server, auth=auth, connection="seeyon_urban")
    assert adapter.call("status", {"flowId": "F-1"}).data == {"state": 1}
    assert adapter.auth.logins == 2  # type: ignore[attr-defined]
    adapter.call("status", {"flowId": "F-1"})
    assert adapter.auth.logins == 2  # type: ignore[attr-defined]  # token cached


@pytest.mark.parametrize(
    ("kind", "header", "value"),
    [
        ("api_key", "X-API-Key", "p/w"),
        ("bearer", "Authorization", "Bearer p/w"),
        ("basic", "Authorization", "Basic dTpwL3c="),
    ],
)
def test_static_auth_headers(server: FixtureServer, kind: str, header: str, value: str) -> None:
    server.route("POST", "/start", json_reply('{"ok": true}'))
    auth = {"kind": kind, "header": "X-API-Key"} if kind == "api_key" else {"kind": kind}
    rest(server, auth=auth, connection="c").call("create", {"title": "路灯"})
    assert server.seen[-1].headers[header] == value
    assert json.loads(server.seen[-1].body) == {"title": "路灯"}


@pytest.mark.parametrize(("charset", "text"), [("GBK", "市民反映路灯不亮"), ("gb18030", "𠀀欧元€")])
def test_chinese_charsets_decoded(server: FixtureServer, charset: str, text: str) -> None:
    body = json.dumps({"msg": text}, ensure_ascii=False).encode(charset)
    server.route(
        "GET",
        "/flow/state/1",
        (200, {"Content-Type": f"application/json; charset={charset}"}, body),
    )
    assert rest(server).call("status", {"flowId": 1}).data == {"msg": text}


def test_undeclared_gbk_is_detected(server: FixtureServer) -> None:
    body = json.dumps({"msg": "市民反映小区路灯长期不亮，夜间出行不便"}, ensure_ascii=False).encode(
        "gbk"
    )
    server.route("GET", "/flow/state/1", (200, {"Content-Type": "application/json"}, body))
    assert rest(server).call("status", {"flowId": 1}).data["msg"].startswith("市民")


def test_invalid_bytes_are_a_clear_error(server: FixtureServer) -> None:
    server.route(
        "GET",
        "/flow/state/1",
        (200, {"Content-Type": "application/json; charset=utf-8"}, b'{"a": "\xff\xfe"}'),
    )
    with pytest.raises(DecodeFailed, match="utf-8") as caught:
        rest(server).call("status", {"flowId": 1})
    assert caught.value.payload == b'{"a": "\xff\xfe"}'  # kept whole for the dead letter


@pytest.mark.parametrize("declared", [True, False])
def test_oversize_response_refused(server: FixtureServer, declared: bool) -> None:
    body = b"[" + b"1," * 50_000 + b"1]"
    headers = {"Content-Type": "application/json"}
    if not declared:
        headers["Connection"] = "close"
        headers["Content-Length"] = ""  # the handler omits a usable length
    server.route("GET", "/flow/state/1", (200, headers, body))
    with pytest.raises(ResponseTooLarge):
        rest(server, limits={"max_response_bytes": 10_000}).call("status", {"flowId": 1})


def test_host_not_on_allow_list(server: FixtureServer) -> None:
    config = connector("rest", endpoint={"url": server.url}, operations=OPS)
    adapter = RestAdapter(config, allow=AllowList(("oa.example.gov.cn",)))
    with pytest.raises(BlockedHost):
        adapter.call("status", {"flowId": 1})
    assert server.seen == []


def test_redirect_to_disallowed_host_refused(server: FixtureServer) -> None:
    server.route(
        "GET", "/flow/state/1", (302, {"Location": "http://169.254.169.254/latest/meta-data"}, b"")
    )
    server.route("GET", "/flow/state/2", (302, {"Location": "/flow/state/3"}, b""))
    server.route("GET", "/flow/state/3", json_reply('{"ok": 1}'))
    adapter = rest(server)
    assert adapter.call("status", {"flowId": 2}).data == {"ok": 1}
    with pytest.raises(BlockedHost):
        adapter.call("status", {"flowId": 1})


def test_redirect_loop_is_bounded(server: FixtureServer) -> None:
    server.route("GET", "/flow/state/1", (302, {"Location": "/flow/state/1"}, b""))
    with pytest.raises(BlockedHost, match="redirects"):
        rest(server, limits={"max_redirects": 2}).call("status", {"flowId": 1})
    assert len(server.seen) == 3


def test_retry_after_is_honoured(server: FixtureServer) -> None:
    replies = iter([json_reply("{}", 503, **{"Retry-After": "7"})] * 2 + [json_reply('{"ok": 1}')])
    server.route("GET", "/flow/state/1", lambda _: next(replies))
    waits: list[float] = []
    resilience = Resilience(
        Retrier(attempts=3, base=0.1, cap=1, jitter=False, sleep=waits.append),
        TokenBucket(100, 100),
        CircuitBreaker(),
    )
    config = connector("rest", endpoint={"url": server.url}, operations=OPS)
    adapter = RestAdapter(config, allow=LOOPBACK, resilience=resilience)
    assert adapter.call("status", {"flowId": 1}).data == {"ok": 1}
    assert waits == [7, 7]


def test_client_error_is_not_retried(server: FixtureServer) -> None:
    server.route("GET", "/flow/state/1", json_reply('{"code": "PARAM_ERROR"}', 400))
    config = connector("rest", endpoint={"url": server.url}, operations=OPS, retry={"attempts": 3})
    with pytest.raises(HttpStatusError) as caught:
        RestAdapter(config, allow=LOOPBACK).call("status", {"flowId": 1})
    assert caught.value.status == 400 and len(server.seen) == 1


def test_circuit_breaker_opens_then_half_opens(server: FixtureServer) -> None:
    now = [0.0]
    server.route("GET", "/flow/state/1", json_reply("{}", 502))
    breaker = CircuitBreaker(failure_threshold=3, open_seconds=30, clock=lambda: now[0])
    resilience = Resilience(Retrier(attempts=1), TokenBucket(100, 100), breaker)
    config = connector("rest", endpoint={"url": server.url}, operations=OPS)
    adapter = RestAdapter(config, allow=LOOPBACK, resilience=resilience)
    for _ in range(3):
        with pytest.raises(HttpStatusError):
            adapter.call("status", {"flowId": 1})
    with pytest.raises(CircuitOpen):
        adapter.call("status", {"flowId": 1})
    assert len(server.seen) == 3
    now[0] = 31
    server.route("GET", "/flow/state/1", json_reply('{"ok": 1}'))
    assert breaker.state == "half_open"
    assert adapter.call("status", {"flowId": 1}).data == {"ok": 1}
    assert breaker.state == "closed"


def test_fetch_page_with_cursor_and_page_paging(server: FixtureServer) -> None:
    server.route("GET", "/api/orders", json_reply('{"items": [{"no": 1}, {"no": 2}]}'))
    stream = {
        "name": "orders",
        "path": "/api/orders",
        "cursor": {"field": "updated_at", "type": "time", "lookback": "5m", "param": "since"},
        "paging": {"kind": "page", "size": 2, "params": {"size": "page_size"}},
        "records": "$.items",
        "mapping": "m_orders",
    }
    adapter = rest(server, streams=[stream])
    page = adapter.fetch_page("orders", "2026-03-01T10:05:00", None)
    assert server.seen[-1].path == "/api/orders?since=2026-03-01T10%3A00%3A00&page_size=2&page=1"
    assert page.next_token == "2"
    server.route("GET", "/api/orders", json_reply('{"items": [{"no": 3}]}'))
    assert adapter.fetch_page("orders", "2026-03-01T10:05:00", "2").next_token is None


def test_fetch_page_with_token_paging(server: FixtureServer) -> None:
    server.route("GET", "/api/orders", json_reply('{"items": [1], "next": "abc"}'))
    stream = {
        "name": "orders",
        "path": "/api/orders",
        "paging": {"kind": "token", "size": 1, "next_path": "next"},
        "records": "items",
        "mapping": "m_orders",
    }
    assert rest(server, streams=[stream]).fetch_page("orders", None, "xyz").next_token == "abc"
    assert server.seen[-1].path == "/api/orders?size=1&token=xyz"


def test_dns_rebinding_between_check_and_connect_refused(
    server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allow-list check sees a public address; the connect-time lookup says loopback."""
    server.route("GET", "/flow/state/1", json_reply('{"ok": 1}'))
    port = int(server.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        if host == "oa.hb.gov.cn":
            return real("127.0.0.1", *args, **kwargs)  # type: ignore[arg-type]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    config = connector("rest", endpoint={"url": f"http://oa.hb.gov.cn:{port}"}, operations=OPS)
    public = AllowList(("*.gov.cn",), resolver=lambda _h: ["59.1.2.3"])
    with pytest.raises(BlockedHost, match="loopback"):
        RestAdapter(config, allow=public).call("status", {"flowId": 1})
    assert server.seen == []
    explicit = AllowList(("oa.hb.gov.cn",), resolver=lambda _h: ["59.1.2.3"])
    assert RestAdapter(config, allow=explicit).call("status", {"flowId": 1}).data == {"ok": 1}


@pytest.mark.parametrize(("status", "calls"), [(502, 1), (503, 3)])
def test_create_retried_only_when_surely_not_processed(
    server: FixtureServer, status: int, calls: int
) -> None:
    """A 502 may hide a committed create: leave it to the idempotency lookup, never re-send."""
    server.route("POST", "/start", json_reply("{}", status))
    waits: list[float] = []
    resilience = Resilience(
        Retrier(attempts=3, jitter=False, sleep=waits.append),
        TokenBucket(100, 100),
        CircuitBreaker(),
    )
    config = connector("rest", endpoint={"url": server.url}, operations=OPS)
    with pytest.raises(HttpStatusError):
        RestAdapter(config, allow=LOOPBACK, resilience=resilience).call("create", {"a": 1})
    assert len(server.seen) == calls


def test_create_retried_when_connection_never_opened() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens here now: connection refused
    waits: list[float] = []
    resilience = Resilience(
        Retrier(attempts=3, jitter=False, sleep=waits.append),
        TokenBucket(100, 100),
        CircuitBreaker(),
    )
    config = connector("rest", endpoint={"url": f"http://127.0.0.1:{port}"}, operations=OPS)
    with pytest.raises(TransportFailed) as caught:
        RestAdapter(config, allow=LOOPBACK, resilience=resilience).call("create", {"a": 1})
    assert caught.value.unsent and len(waits) == 2
