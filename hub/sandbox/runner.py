"""Start the simulated systems on loopback: in threads for tests, in the foreground for demos.

Each server gets its socket bound before its thread starts, so asking for port 0 yields a
free port with no race, and the URL is known as soon as :func:`start_sandbox` returns.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from hub.sandbox.base import SandboxSystem
from hub.sandbox.hebei import HebeiSystem
from hub.sandbox.hotline import HotlineSystem
from hub.sandbox.seeyon import SeeyonSystem
from hub.sandbox.tongda import TongdaSystem
from hub.sandbox.weaver import WeaverSystem

SYSTEMS: dict[str, type[SandboxSystem]] = {
    "weaver": WeaverSystem,
    "seeyon": SeeyonSystem,
    "tongda": TongdaSystem,
    "hebei": HebeiSystem,
    "hotline": HotlineSystem,
}
DEFAULT_PORTS = {"weaver": 8101, "seeyon": 8102, "tongda": 8103, "hebei": 8104, "hotline": 8105}
LOOPBACK = "127.0.0.1"


class ServerThread:
    """One uvicorn server in a daemon thread, stopped through ``should_exit``."""

    def __init__(self, system: SandboxSystem, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            system.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name=f"sandbox-{system.name}",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("沙箱服务启动失败 (sandbox server did not start)")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Sandbox:
    """Running systems, their base URLs and the Tongda database the hub reads directly."""

    systems: dict[str, SandboxSystem]
    urls: dict[str, str]
    servers: list[ServerThread] = field(default_factory=list)

    def __getitem__(self, name: str) -> SandboxSystem:
        return self.systems[name]

    @property
    def tongda_database(self) -> Path | None:
        tongda = self.systems.get("tongda")
        return None if tongda is None else tongda.store.path

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for system in self.systems.values():
            system.store.close()


def start_sandbox(
    data_dir: Path,
    systems: Iterable[str] | None = None,
    ports: Mapping[str, int] | None = None,
    host: str = LOOPBACK,
    seed_matters: int = 0,
) -> Sandbox:
    """Start the named systems (all by default) on the given ports (0 or absent = free)."""
    names = list(systems or SYSTEMS)
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise ValueError(f"未知的沙箱系统 (unknown sandbox systems): {', '.join(unknown)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(systems={}, urls={})
    try:
        for name in names:
            system = SYSTEMS[name](data_dir)
            sandbox.systems[name] = system
            if seed_matters and isinstance(system, HebeiSystem):
                system.seed(seed_matters)
            server = ServerThread(system, host, (ports or {}).get(name, 0))
            server.start()
            sandbox.servers.append(server)
            system.base_url = f"http://{host}:{server.port}"
            sandbox.urls[name] = system.base_url
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


@contextmanager
def running_sandbox(
    data_dir: Path,
    systems: Iterable[str] | None = None,
    ports: Mapping[str, int] | None = None,
    seed_matters: int = 0,
) -> Iterator[Sandbox]:
    """``with running_sandbox(tmp_path) as sb: requests.get(sb.urls["seeyon"] + …)``."""
    sandbox = start_sandbox(data_dir, systems, ports, seed_matters=seed_matters)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def parse_ports(spec: str) -> dict[str, int]:
    """``weaver=8101,hebei=0`` → {"weaver": 8101, "hebei": 0}; unnamed systems keep defaults."""
    ports = dict(DEFAULT_PORTS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name not in SYSTEMS or not value.isdigit():
            raise ValueError(f"端口格式应为 name=port (bad --ports item): {item}")
        ports[name] = int(value)
    return ports


def serve_forever(
    data_dir: Path,
    ports: Mapping[str, int],
    seed_matters: int = 0,
    systems: Iterable[str] | None = None,
) -> None:
    """Run in the foreground, print where everything is, stop cleanly on Ctrl-C."""
    try:
        sandbox = start_sandbox(data_dir, systems, ports, seed_matters=seed_matters)
    except KeyboardInterrupt:  # Ctrl-C while seeding: start_sandbox has cleaned up
        return
    try:
        for name, url in sandbox.urls.items():
            system = sandbox.systems[name]
            print(f"  {name:8} {url}{system.entry}  {system.title}", flush=True)
        if sandbox.tongda_database:
            print(f"  通达数据库 (Tongda database): {sandbox.tongda_database}", flush=True)
        print(
            "控制接口 control API: <url>/_sandbox/…   按 Ctrl-C 停止 (Ctrl-C to stop)", flush=True
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        print("正在停止 (stopping)…", flush=True)
    finally:
        sandbox.stop()
