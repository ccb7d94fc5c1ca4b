"""`make run` end to end (slow: starts every process, ~2–4 minutes on two cores).

Runs scripts/run.sh as `make run` does — sandbox, hub API with its worker, Airflow standalone —
with HUB_HOME in a temp folder and free ports for the API and Airflow (the sandbox keeps its
documented ports 8101–8105, which the shipped connector configs name). It waits until both
answer, triggers the hotline sync DAG through Airflow's REST API, sees the run succeed and the
order reach the hub, then presses Ctrl-C (SIGINT) and checks that every process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from hub.config import REPO_ROOT
from hub.sandbox.runner import DEFAULT_PORTS
from hub.sandbox.wiring import free_ports
from hub.store.schema import work_orders

pytestmark = pytest.mark.slow
DAG_ID = "jk_connector_hotline_centre"
READY_SECONDS = 600
RUN_SECONDS = 420


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_of(hub_home: Path) -> list[int]:
    """Every process that inherited this run's HUB_HOME (everything run.sh started)."""
    marker = f"HUB_HOME={hub_home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    hub_home: Path
    log: Path
    api: str
    airflow: str

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def airflow_log(self) -> str:
        path = self.hub_home / "airflow" / "standalone.log"
        return path.read_text("utf-8", errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """Ctrl-C, as a person would press it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Running]:
    busy = [f"{name}:{port}" for name, port in DEFAULT_PORTS.items() if port_open(port)]
    if busy:
        pytest.fail(f"sandbox ports in use (another `make run`?): {', '.join(busy)}")
    hub_home = tmp_path / "var"
    api_port, airflow_port = free_ports(2)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "_AIRFLOW", "HUB_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(
        BIN=str(Path(sys.executable).parent),
        HUB_HOME=str(hub_home),
        PORT=str(api_port),
        AIRFLOW_PORT=str(airflow_port),
        WORKERS="1",
        SEED_MATTERS="20",
    )
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(REPO_ROOT / "scripts" / "run.sh")],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = Running(
        process,
        hub_home,
        log,
        f"http://127.0.0.1:{api_port}",
        f"http://127.0.0.1:{airflow_port}",
    )
    try:
        yield running
    finally:
        running.stop()
        for pid in processes_of(hub_home):  # only ever ours: they carry this run's HUB_HOME
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_until(what: str, check: Any, seconds: float, running: Running) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            pytest.fail(f"make run exited early:\n{running.output()[-4000:]}")
        try:
            result = check()
        except requests.RequestException:
            result = None
        if result:
            return result
        time.sleep(2)
    pytest.fail(
        f"timed out waiting for {what}:\n{running.output()[-3000:]}\n{running.airflow_log()}"
    )


def test_make_run_serves_triggers_a_dag_and_stops_on_ctrl_c(make_run: Running) -> None:
    running = make_run
    wait_until(
        "the ready banner", lambda: "已就绪 (ready)" in running.output(), READY_SECONDS, running
    )
    assert requests.get(f"{running.api}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{running.airflow}/api/v2/monitor/health", timeout=5).ok
    password = json.loads((running.hub_home / "airflow" / "passwords.json").read_text())["admin"]
    assert f"admin / {password}" in running.output()  # the login is printed

    token = requests.post(
        f"{running.airflow}/auth/token",
        json={"username": "admin", "password": password},
        timeout=30,
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    api = f"{running.airflow}/api/v2"

    def dag_listed() -> bool:
        return requests.get(f"{api}/dags/{DAG_ID}", headers=auth, timeout=10).ok

    wait_until(f"{DAG_ID} to be parsed", dag_listed, 300, running)
    # A new hotline call waits in the sandbox; the triggered sync must bring it in.
    added = requests.post(
        f"http://127.0.0.1:{DEFAULT_PORTS['hotline']}/_sandbox/orders",
        json={
            "orders": [
                {
                    "hotline": "12369",
                    "type": "投诉",
                    "content": "某化工厂夜间排放刺鼻气体，影响周边居民休息",
                    "caller": {"name": "王芳", "mobile": "13912345678"},
                }
            ]
        },
        timeout=10,
    ).json()["orderNos"][0]
    patched = requests.patch(
        f"{api}/dags/{DAG_ID}", json={"is_paused": False}, headers=auth, timeout=10
    )
    assert patched.ok, patched.text
    triggered = requests.post(
        f"{api}/dags/{DAG_ID}/dagRuns", json={"logical_date": None}, headers=auth, timeout=30
    )
    assert triggered.ok, triggered.text
    run_id = triggered.json()["dag_run_id"]

    def finished() -> str | None:
        state = requests.get(f"{api}/dags/{DAG_ID}/dagRuns/{run_id}", headers=auth, timeout=10)
        value = state.json().get("state")
        return value if value in ("success", "failed") else None

    assert wait_until(f"run {run_id}", finished, RUN_SECONDS, running) == "success"

    # The order is in the hub, through the same store the API serves.
    engine = create_engine(f"sqlite:///{running.hub_home / 'hub.db'}")
    with engine.connect() as conn:
        stored = conn.execute(
            select(work_orders.c.wo_no).where(work_orders.c.external_id == added)
        ).all()
    engine.dispose()
    assert len(stored) == 1

    running.stop()
    assert running.process.returncode is not None
    assert "已停止 stopped" in running.output()
    ports = [*DEFAULT_PORTS.values(), int(running.api.rsplit(":", 1)[1])]
    ports.append(int(running.airflow.rsplit(":", 1)[1]))
    deadline = time.monotonic() + 30
    while (processes_of(running.hub_home) or any(map(port_open, ports))) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
    assert processes_of(running.hub_home) == []
    assert not [p for p in ports if port_open(p)]
