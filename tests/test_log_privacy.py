"""No raw phone, ID number, email or query code in ANY log output of a full API flow.

The flow runs twice: against a real `jingkai serve --log-level debug` subprocess (its whole
stdout and stderr captured to a file), and in-process through TestClient with a DEBUG
handler on the root logger.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from hub.api.app import create_app
from hub.config import REPO_ROOT, Settings
from hub.model.validators import resident_id_check_digit
from hub.sandbox.wiring import free_port
from hub.store.db import engine_for

JINGKAI = Path(sys.executable).parent / "jingkai"
POLICIES = REPO_ROOT / "policies"
CLIENT_LOGGERS = {"urllib3", "requests", "httpx", "httpcore"}
SERVE = [str(JINGKAI), "serve", "--host", "127.0.0.1"]

PHONE = "13812341234"
MASKED_PHONE = "138****1234"
ID_NUMBER = "130102199003071233"
EMAIL_LOCAL = "wangwu.privacy"
EMAIL = f"{EMAIL_LOCAL}@example.com"
NAME = "司马德昭"
BAD_PHONE = "13912345678X"
BAD_ID = "130102199003071234"  # wrong check digit (the right one is 3)

pytestmark = pytest.mark.slow


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "app",
        "appeal_type": "complaint",
        "category_code": "ENV-NOISE",
        "title": f"夜间施工噪音 请回电{PHONE}",
        "content": (
            f"工地夜间施工噪声很大。联系人{NAME}，电话{PHONE}，身份证{ID_NUMBER}，邮箱{EMAIL}。"
        ),
        "location": {"address": "经开区某路与某街交叉口", "region_code": "130199001"},
        "requester": {
            "name": NAME,
            "phone": PHONE,
            "id_number": ID_NUMBER,
            "email": EMAIL,
        },
    }
    data.update(overrides)
    return data


Call = Callable[..., Any]  # (method, path, **kwargs) -> response with .status_code/.json()


@dataclass
class FlowResult:
    wo_no: str
    query_code: str
    requester_view: str
    timeline: str


def run_flow(call: Call, portal: str, staff: str, tag: str) -> FlowResult:
    """Submit, replay, fail validation, track, read the timeline, list, metrics."""
    as_portal = {"X-API-Key": portal}
    as_staff = {"X-API-Key": staff}

    assert call("GET", "/healthz").status_code == 200

    headers = {**as_portal, "Idempotency-Key": f"privacy-{tag}"}
    created = call("POST", "/api/v1/work-orders", json=body(), headers=headers)
    assert created.status_code == 201, created.text
    wo_no, query_code = created.json()["wo_no"], created.json()["query_code"]
    replay = call("POST", "/api/v1/work-orders", json=body(), headers=headers)
    assert replay.status_code == 201 and replay.json()["wo_no"] == wo_no

    invalid = body(
        title=f"电话{BAD_PHONE} 身份证{BAD_ID}",
        requester={"name": NAME, "phone": BAD_PHONE, "id_number": BAD_ID, "email": EMAIL},
    )
    refused = call("POST", "/api/v1/work-orders", json=invalid, headers=as_portal)
    assert refused.status_code == 422, refused.text
    fields = {d["field"] for d in refused.json()["error"]["details"]}
    assert {"requester.phone", "requester.id_number"} <= fields
    for raw in (BAD_PHONE, BAD_ID, PHONE, ID_NUMBER, EMAIL_LOCAL):
        assert raw not in refused.text  # errors never echo personal data either

    malformed = call(
        "POST",
        "/api/v1/work-orders",
        content=f'{{"title": "{PHONE}", "requester": {{"id_number": "{ID_NUMBER}"'.encode(),
        headers={**as_portal, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    unknown = call(
        "POST", "/api/v1/work-orders", json=body(category_code="NO-SUCH"), headers=as_portal
    )
    assert unknown.status_code == 422

    mine = call("GET", f"/api/v1/work-orders/{wo_no}", params={"query_code": query_code})
    assert mine.status_code == 200, mine.text
    wrong = call("GET", f"/api/v1/work-orders/{wo_no}", params={"query_code": "ZZZZ2222"})
    assert wrong.status_code == 404
    public = call("GET", f"/api/v1/work-orders/{wo_no}/timeline")
    assert public.status_code == 200

    listed = call("GET", "/api/v1/work-orders", params={"q": PHONE[:6]}, headers=as_staff)
    assert listed.status_code == 200
    assert wo_no in {item["wo_no"] for item in listed.json()["items"]}
    # Personal data in the path and the query string of requests the hub refuses.
    assert call("GET", f"/api/v1/work-orders/{PHONE}", headers=as_staff).status_code == 404
    assert call("GET", f"/api/v1/work-orders/{ID_NUMBER}/timeline").status_code == 404
    searched = call("GET", "/api/v1/work-orders", params={"q": PHONE, "email": EMAIL})
    assert searched.status_code == 401
    assert call("GET", "/api/v1/work-orders", headers={"X-API-Key": PHONE}).status_code == 401

    metrics = call("GET", "/metrics")
    assert metrics.status_code == 200
    assert "hub_http_requests_total" in metrics.text
    return FlowResult(wo_no, query_code, mine.text, public.text)


def assert_clean(output: str, query_codes: list[str], where: str) -> None:
    for raw in (PHONE, ID_NUMBER, EMAIL_LOCAL, NAME, BAD_ID, BAD_PHONE[:11], *query_codes):
        assert raw not in output, f"{raw!r} found in {where}"


def assert_masked_views(flow: FlowResult) -> None:
    for text in (flow.requester_view, flow.timeline):
        assert MASKED_PHONE in text
        assert PHONE not in text
        assert ID_NUMBER not in text
        assert EMAIL_LOCAL not in text
    assert "1301**********1233" in flow.requester_view


def jingkai(env: dict[str, str], cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [str(JINGKAI), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Server:
    base: str
    log: Path
    process: subprocess.Popen[bytes]
    home: Path
    portal: str
    staff: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(home), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    jingkai(env, tmp_path, "init")
    portal = jingkai(env, tmp_path, "keys", "create", "--scope", "portal", "--name", "app")
    staff = jingkai(env, tmp_path, "keys", "create", "--scope", "staff", "--name", "desk")
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--log-level", "debug"],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        yield Server(
            base,
            log,
            process,
            home,
            portal.strip().splitlines()[-1],
            staff.strip().splitlines()[-1],
        )
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class Collect(logging.Handler):
    """Keeps every record it sees as (logger name, formatted line)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


@pytest.fixture
def root_capture() -> Iterator[Collect]:
    """Everything logged in this process, at DEBUG, from every logger."""
    handler = Collect()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    # Loggers that do not propagate would slip past the root handler: listen there too.
    isolated = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in isolated:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in isolated:
            logger.removeHandler(handler)
        root.removeHandler(handler)
        root.setLevel(previous)


def stop(server: Server) -> str:
    server.process.terminate()
    server.process.wait(timeout=30)
    return server.log.read_text(encoding="utf-8", errors="replace")


def test_no_personal_data_in_any_log_output(server: Server, root_capture: Collect) -> None:
    settings = Settings(
        home=server.home,
        database_url=f"sqlite:///{server.home / 'hub.db'}",
        policies_dir=POLICIES,
    )
    # Creating the app installs the hub's process-wide log masking, as `jingkai serve` does.
    app = create_app(settings)

    session = requests.Session()

    def over_http(method: str, path: str, **kwargs: Any) -> requests.Response:
        if "content" in kwargs:
            kwargs["data"] = kwargs.pop("content")
        return session.request(method, server.base + path, timeout=30, **kwargs)

    remote = run_flow(over_http, server.portal, server.staff, "http")
    session.close()

    with TestClient(app) as client:

        def in_process(method: str, path: str, **kwargs: Any) -> Any:
            return client.request(method, path, **kwargs)

        local = run_flow(in_process, server.portal, server.staff, "local")
    engine_for(settings.database_url).dispose()

    server_output = stop(server)
    codes = [remote.query_code, local.query_code]

    # Not vacuous: the server wrote its access log, and the in-process handler saw records.
    assert "Uvicorn running on" in server_output
    access = [line for line in server_output.splitlines() if "uvicorn.access" in line]
    assert len(access) >= 14, server_output
    assert any('"POST /api/v1/work-orders HTTP/1.1" 201' in line for line in access)
    assert any('"POST /api/v1/work-orders HTTP/1.1" 422' in line for line in access)
    assert any(f"/api/v1/work-orders/{remote.wo_no}/timeline" in line for line in access)
    assert any("/metrics" in line for line in access)
    # The path that carried a phone number was logged, masked.
    assert any(f"/api/v1/work-orders/{MASKED_PHONE} " in line for line in access)
    assert_clean(server_output, codes, "the server's stdout/stderr")

    captured = "\n".join(line for _, line in root_capture.lines)
    assert len(root_capture.lines) >= 14
    assert MASKED_PHONE in captured  # the masking really ran over in-process records
    for raw in (PHONE, ID_NUMBER, NAME, BAD_ID, BAD_PHONE[:11]):
        assert raw not in captured, f"{raw!r} found in in-process log records"
    # The test's own HTTP clients (requests/urllib3, httpx) log each request URL with its
    # query string, percent-encoded: that is the client's log, not the hub's. Every other
    # record must not carry the email or a query code either.
    hub_side = "\n".join(
        line for name, line in root_capture.lines if name.split(".")[0] not in CLIENT_LOGGERS
    )
    assert_clean(hub_side, codes, "in-process hub log records")

    assert_masked_views(remote)
    assert_masked_views(local)


def test_email_in_request_path_is_masked_in_access_log(server: Server) -> None:
    response = requests.get(f"{server.base}/api/v1/work-orders/{EMAIL}/timeline", timeout=30)
    assert response.status_code == 404
    output = stop(server)
    assert any('/timeline HTTP/1.1" 404' in line for line in output.splitlines())
    assert EMAIL_LOCAL not in output


def test_bad_id_really_has_a_wrong_check_digit() -> None:
    assert resident_id_check_digit(BAD_ID[:17]) != BAD_ID[17]
    assert resident_id_check_digit(ID_NUMBER[:17]) == ID_NUMBER[17]
