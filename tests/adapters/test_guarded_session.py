"""The allow-listed session's own hop: what requests' Session.request would send, sent."""

from __future__ import annotations

import json

import requests
from servers import (  # noqa: F401 - server_fixture provides `server`
    LOOPBACK,
    FixtureServer,
    Seen,
    json_reply,
    server_fixture,
)

from hub.adapters.http import GuardedSession

CAP = 1024 * 1024


def session() -> GuardedSession:
    return GuardedSession(LOOPBACK, CAP, max_redirects=3)


def echo(seen: Seen) -> tuple[int, dict[str, str], bytes]:
    """Answer with what arrived, so the test sees the request as the server did."""
    body = {"path": seen.path, "headers": seen.headers, "body": seen.body.decode()}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def test_headers_params_and_bodies_arrive_as_requests_would_send_them(
    server: FixtureServer,
) -> None:
    server.route("POST", "/form", echo)
    server.route("POST", "/json", echo)
    server.route("GET", "/query", echo)
    guarded, plain = session(), session()
    for method, path, kwargs in [
        ("POST", "/form", {"data": {"a": "甲", "b": "2"}, "headers": {"X-Trace": "t1"}}),
        ("POST", "/json", {"json": {"事项": "噪音"}, "headers": {"Accept": None}}),
        ("GET", "/query", {"params": {"page": 2, "q": "渣土"}, "timeout": (3, 5)}),
    ]:
        ours = guarded.request(method, server.url + path, **kwargs).json()
        # the reference: requests' own Session.prepare_request and adapter
        prepared = plain.prepare_request(
            requests.Request(method, server.url + path, **_bare(kwargs))
        )
        reference = plain.get_adapter(server.url).send(prepared, timeout=(3, 5)).json()
        assert ours["path"] == reference["path"]
        assert ours["body"] == reference["body"]
        assert ours["headers"] == reference["headers"]
    assert guarded.request("POST", server.url + "/json", headers={"Accept": None}).ok
    assert "Accept" not in server.seen[-1].headers  # a None header is left out


def _bare(kwargs: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in kwargs.items() if k != "timeout"}


def test_cookies_set_by_the_system_are_kept_and_sent_back(server: FixtureServer) -> None:
    server.route("POST", "/login", json_reply("{}", **{"Set-Cookie": "JSESSIONID=abc123; Path=/"}))
    server.route("POST", "/work", json_reply("{}"))
    guarded = session()
    guarded.request("POST", server.url + "/login")
    guarded.request("POST", server.url + "/work")
    assert "Cookie" not in server.seen[0].headers
    assert server.seen[1].headers["Cookie"] == "JSESSIONID=abc123"


def test_the_body_is_read_under_the_cap_and_the_status_kept(server: FixtureServer) -> None:
    server.route("GET", "/missing", (404, {"Content-Type": "text/plain"}, b"nope"))
    response = session().request("GET", server.url + "/missing")
    assert (response.status_code, response.content) == (404, b"nope")
    assert response.url == server.url + "/missing"
