"""Run the hub as real processes (`jingkai serve`, `jingkai worker`) and kill them.

Used by the crash test and by bench/flow.py: each process gets the environment `make run`
gives it, pointed at a test database, the test's sandbox and the chosen broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from hub.config import REPO_ROOT
from hub.sandbox.wiring import free_port

JINGKAI = str(Path(sys.executable).with_name("jingkai"))


def hub_environment(
    home: Path,
    database_url: str,
    connectors: Path,
    extra: Mapping[str, str],
    *,
    broker_url: str = "memory://",
    embedded_worker: bool = True,
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.update(
        {
            "HUB_HOME": str(home),
            "HUB_DATABASE_URL": database_url,
            "HUB_CONNECTORS_DIR": str(connectors),
            "HUB_MAPPINGS_DIR": str(REPO_ROOT / "mappings"),
            "HUB_POLICIES_DIR": str(REPO_ROOT / "policies"),
            "HUB_BROKER_URL": broker_url,
            "HUB_EMBEDDED_WORKER": "1" if embedded_worker else "0",
            "HUB_ALLOW_PRIVATE": "1",
            "HUB_ALLOWED_HOSTS": "127.0.0.1",
            "HUB_SWEEP_SECONDS": "2",
            "HUB_DISPATCH_LEASE_SECONDS": "3",
        }
    )
    return env


def run_cli(env: Mapping[str, str], *args: str) -> str:
    done = subprocess.run(
        [JINGKAI, *args], env=dict(env), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@dataclass
class Process:
    """One hub process that can be killed and started again with the same command."""

    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        handle = self.log.open("ab")
        self.popen = subprocess.Popen(
            [JINGKAI, *self.args], env=self.env, stdout=handle, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


@dataclass
class Api(Process):
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.popen is not None and self.popen.poll() is not None:
                raise AssertionError(f"API exited: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        raise AssertionError("API did not answer /healthz")


def api_process(env: dict[str, str], log: Path, workers: int = 1) -> Api:
    port = free_port()
    return Api(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env,
        log,
        port=port,
    )


def submit_until_accepted(
    url: str, key: str, body: dict[str, Any], idempotency_key: str, give_up: float = 120.0
) -> str:
    """Submit, retrying through crashes with the same Idempotency-Key: one order, never two."""
    deadline = time.monotonic() + give_up
    headers = {"X-API-Key": key, "Idempotency-Key": idempotency_key}
    while True:
        try:
            response = requests.post(
                f"{url}/api/v1/work-orders", json=body, headers=headers, timeout=10
            )
            if response.status_code in (200, 201):
                return str(response.json()["wo_no"])
            if 400 <= response.status_code < 500 and response.status_code not in (408, 409, 429):
                raise AssertionError(f"order {idempotency_key} refused: {response.text}")
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"order {idempotency_key} never accepted")
        time.sleep(0.1)
