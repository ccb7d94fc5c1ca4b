"""Starting and stopping the sandbox: ports, subsets, and the `jingkai sandbox` command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.cli import main
from hub.sandbox import DEFAULT_PORTS, running_sandbox
from hub.sandbox.runner import parse_ports
from hub.sandbox.wiring import free_ports

#: The sandbox fixtures: running, sb (reset before each test), weaver, hebei.
pytest_plugins = ["sandbox_fixtures"]


def test_parse_ports() -> None:
    assert parse_ports("") == DEFAULT_PORTS
    assert parse_ports("weaver=9001, hebei=0")["weaver"] == 9001
    assert parse_ports("weaver=9001, hebei=0")["hebei"] == 0
    for bad in ("weaver", "nobody=1", "weaver=x"):
        with pytest.raises(ValueError, match="name=port"):
            parse_ports(bad)


def test_subset_and_unknown_systems(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, systems=["hotline"]) as sandbox:
        assert list(sandbox.urls) == ["hotline"] and sandbox.tongda_database is None
        assert requests.get(sandbox.urls["hotline"] + "/_sandbox/health", timeout=5).ok
    with pytest.raises(ValueError, match="nobody"), running_sandbox(tmp_path, systems=["nobody"]):
        pass


def test_data_survives_a_restart_on_a_fixed_port(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running_sandbox(tmp_path, systems=["tongda"], ports={"tongda": port}) as sandbox:
        assert sandbox.urls["tongda"] == f"http://127.0.0.1:{port}"
        database = sandbox.tongda_database
    assert database is not None
    import sqlite3

    with sqlite3.connect(database) as conn:
        conn.execute("INSERT INTO oa_task (task_no, title) VALUES ('JK-P', '持久化')")
    with running_sandbox(tmp_path, systems=["tongda"], ports={"tongda": port}) as sandbox:
        task = requests.get(sandbox.urls["tongda"] + "/_sandbox/by-wo-no/JK-P", timeout=5)
        assert task.json()["title"] == "持久化"


def test_cli_rejects_bad_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--ports", "weaver"]) == 2
    assert "name=port" in capsys.readouterr().err


def test_cli_runs_until_interrupted(tmp_path: Path) -> None:
    ports = ",".join(f"{name}=0" for name in DEFAULT_PORTS)
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "sandbox", "--data-dir", str(tmp_path),
         "--ports", ports, "--seed-matters", "100"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        if "Ctrl-C" in line:
            break
    text = "".join(lines)
    assert "/services/WorkflowService?wsdl" in text and "tongda.db" in text
    hebei_url = next(line.split()[1] for line in lines if line.strip().startswith("hebei"))
    assert requests.get(hebei_url, timeout=5).status_code == 200  # the WSDL
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0


def test_ports_chosen_together_are_all_different_and_free() -> None:
    """Chosen one probe at a time the system may give the same port twice; a hub and its
    sandbox systems started on such ports would collide."""
    for _ in range(20):
        ports = free_ports(12)
        assert len(set(ports)) == 12
        for port in ports:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))  # nobody holds it once chosen
