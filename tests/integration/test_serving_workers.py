"""`jingkai serve --workers 2`: both workers listen (each on its own socket) and stop cleanly."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import requests
from crash_helpers import api_process, hub_environment, run_cli

from hub.config import REPO_ROOT


def listening_sockets(supervisor: int, port: int) -> list[set[str]]:
    """Per child of the supervisor: the listening sockets on the port it holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inodes.add(fields[9])
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [{i for i in inodes if f"socket:[{i}]" in open_files(child)} for child in children]


def open_files(pid: str) -> set[str]:
    """What the process's descriptors point at; one closed while listed is skipped."""
    links = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.add(str(fd.readlink()))
        except FileNotFoundError:  # closed meanwhile (a request's connection)
            continue
    return links


def one_socket_each(held: list[set[str]]) -> bool:
    """Two workers, each listening on a socket of its own (a shared one is one inode); other
    children (multiprocessing's resource tracker) hold none."""
    listening = [h for h in held if h]
    return (
        len(listening) == 2
        and all(len(h) == 1 for h in listening)
        and len(set.union(*listening)) == 2
    )


def test_two_workers_each_listen_and_answer_then_stop(tmp_path: Path) -> None:
    env = hub_environment(
        tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", REPO_ROOT / "connectors", {}
    )
    run_cli(env, "init")
    api = api_process(env, tmp_path / "api.log", workers=2)
    api.start()
    try:
        api.wait_ready()
        assert api.popen is not None
        deadline = time.monotonic() + 30
        while not one_socket_each(listening_sockets(api.popen.pid, api.port)):
            assert time.monotonic() < deadline, listening_sockets(api.popen.pid, api.port)
            time.sleep(0.2)
        for _ in range(20):  # fresh connections, wherever the kernel puts them
            assert requests.get(f"{api.url}/healthz", timeout=5).status_code == 200
        api.popen.send_signal(signal.SIGTERM)
        assert api.popen.wait(30) == 0
    finally:
        api.stop()
    assert "Traceback" not in (tmp_path / "api.log").read_text(errors="replace")
