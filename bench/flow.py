"""Intake → task created in a sandbox OA: end-to-end latency at a fixed arrival rate.

Runs the embedded default as `make run` does — `jingkai sandbox` and `jingkai serve
--workers 2` with the in-process broker on SQLite — and submits orders at 100/s and then
300/s (open loop: each order leaves at its own time, whatever the server is doing). The
orders go to the three OA systems in turn (Weaver over SOAP, Seeyon over REST, Tongda
through its database). Latency is measured in the hub's own records: from the moment
the order was received to the moment the department system answered the create.
The shipped connectors' rate limits (Weaver: 5 calls/s) are lifted for the run; the
sandbox adds no latency. Prints p50/p99 per rate; the last line is JSON.
Target (issue 4): p99 <= 250 ms at 300 orders/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from hub.sandbox.runner import DEFAULT_PORTS
from hub.sandbox.wiring import free_ports, rebase_connectors, sandbox_secrets
from hub.store.db import make_engine
from hub.store.schema import assignments, work_orders

HOST = "127.0.0.1"
JINGKAI = str(Path(sys.executable).with_name("jingkai"))
BODIES = [
    ("ENV-NOISE", "工地夜间施工噪音", "工地每晚施工到凌晨，噪音很大。"),
    ("URB-MUCK-SPILL", "渣土车撒漏", "渣土车沿路撒漏泥土，尘土飞扬。"),
    ("HOUSING-QUALITY", "新房墙体开裂", "交房半年墙体多处开裂渗水。"),
]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:  # not another server's 404
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[int]:
    """Run a command for the duration; yields its pid."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def tree_cpu_seconds(root: int) -> float:
    """CPU (user + system) used so far by a process and its descendants, from /proc."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return sum(used.get(pid, 0.0) for pid in tree)


LIFTED = "rate_limit: {per_second: 10000, burst: 10000}"


def without_rate_limits(text: str) -> str:
    """The bench measures the hub, not the departments' protective rate limits — neither
    a file's own limit nor the default one a file without `rate_limit:` gets (10/s)."""
    lines = [LIFTED if line.startswith("rate_limit:") else line for line in text.splitlines()]
    if LIFTED not in lines:
        lines.append(LIFTED)
    return "\n".join(lines) + "\n"


def body(i: int) -> bytes:
    category, title, content = BODIES[i % len(BODIES)]
    order = {
        "channel": "app",
        "appeal_type": "complaint",
        "category_code": category,
        "title": f"{title}{i}",
        "content": f"{content}（第{i}件）",
        "requester": {"name": "张三", "phone": "13812341234"},
    }
    return json.dumps(order, ensure_ascii=False).encode()


async def paced_load(port: int, key: str, rate: float, seconds: float, first: int) -> int:
    """Open loop: order n leaves at start + n/rate over a pool of keep-alive connections."""
    total = int(rate * seconds)
    queue: asyncio.Queue[int] = asyncio.Queue()
    start = time.perf_counter() + 0.2

    async def schedule() -> None:
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(n)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while True:
                n = await queue.get()
                if n < 0:
                    return
                payload = body(first + n)
                head = (
                    f"POST /api/v1/work-orders HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                    f"Content-Type: application/json\r\nX-API-Key: {key}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n"
                ).encode()
                writer.write(head + payload)
                response = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line[15:])
                    for line in response.split(b"\r\n")
                    if line[:15].lower() == b"content-length:"
                )
                await reader.readexactly(length)
        finally:
            writer.close()

    # Few enough that none stays idle past the server's keep-alive timeout (5 s) at low rates.
    pool = [asyncio.create_task(connection()) for _ in range(max(2, min(64, int(rate) // 4)))]
    await schedule()
    for _ in pool:
        queue.put_nowait(-1)
    await asyncio.gather(*pool)
    return total


def latencies(engine: Any, since: Any, expected: int, timeout: float = 120.0) -> list[float]:
    """Receipt → department system's answer, per order (ms), once all are delivered."""
    query = (
        select(work_orders.c.created_at, assignments.c.dispatched_at)
        .join(assignments, assignments.c.wo_no == work_orders.c.wo_no)
        .where(work_orders.c.created_at >= since)
    )
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        done = [r for r in rows if r.dispatched_at is not None]
        if len(done) >= expected or time.monotonic() > deadline:
            return sorted((r.dispatched_at - r.created_at).total_seconds() * 1000 for r in done)
        time.sleep(0.5)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p / 100 * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="100,300")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--database-url",
        help="an empty hub database instead of the embedded SQLite file (for comparison only:"
        " the target is set for the embedded default)",
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="jk-flow-bench-"))
    complete = False
    try:
        complete = measure(args, home)
    finally:
        if args.keep or not complete:  # an incomplete run keeps its logs and database
            print(f"(kept {home})", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


def measure(args: argparse.Namespace, home: Path) -> bool:
    """Start the sandbox and the hub in `home`, load them at each rate, print the figures;
    True if every order sent was delivered."""
    rates = [float(r) for r in args.rates.split(",")]
    *chosen, api_port = free_ports(len(DEFAULT_PORTS) + 1)
    ports = dict(zip(DEFAULT_PORTS, chosen, strict=True))
    env = dict(os.environ)
    env.update(sandbox_secrets(home / "sandbox" / "tongda.db"))
    urls = {system: f"http://{HOST}:{port}" for system, port in ports.items()}
    connectors = rebase_connectors(urls, home / "connectors", edit=without_rate_limits)
    env.update(
        {
            "HUB_HOME": str(home),
            "HUB_DATABASE_URL": args.database_url or f"sqlite:///{home / 'hub.db'}",
            "HUB_CONNECTORS_DIR": str(connectors),
            "HUB_ALLOWED_HOSTS": HOST,
            "HUB_ALLOW_PRIVATE": "1",
            "HUB_EMBEDDED_WORKER": "1",
        }
    )
    subprocess.run([JINGKAI, "init"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [JINGKAI, "keys", "create", "--scope", "staff", "--name", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    port_list = ",".join(f"{s}={p}" for s, p in ports.items())
    sandbox = [JINGKAI, "sandbox", "--data-dir", str(home / "sandbox"), "--ports", port_list]
    serve = [
        JINGKAI,
        "serve",
        "--host",
        HOST,
        "--port",
        str(api_port),
        "--workers",
        "2",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    engine = make_engine(env["HUB_DATABASE_URL"])
    figures: dict[str, Any] = {}
    with (
        process(sandbox, env, home / "sandbox.log") as sandbox_pid,
        process(serve, env, home / "api.log") as hub_pid,
    ):
        wait_http(f"http://{HOST}:{ports['seeyon']}/_sandbox/health")
        wait_http(f"http://{HOST}:{api_port}/healthz")
        first = 0
        asyncio.run(paced_load(api_port, key, 20, 2, 100_000))  # warm-up: WSDL, tokens, pools
        latencies(engine, _epoch(), 40, timeout=60)
        # The load generator's own full collections (50 ms) would hold orders back and
        # then send them in a bunch: what it has built so far stays out of their way.
        gc.collect()
        gc.freeze()
        for rate in rates:
            since = _now()
            cpu_before = tree_cpu_seconds(hub_pid), tree_cpu_seconds(sandbox_pid)
            sent = asyncio.run(paced_load(api_port, key, rate, args.seconds, first))
            first += sent
            found = latencies(engine, since, sent)
            hub_cpu = (tree_cpu_seconds(hub_pid) - cpu_before[0]) / sent * 1000
            sandbox_cpu = (tree_cpu_seconds(sandbox_pid) - cpu_before[1]) / sent * 1000
            p50, p99 = percentile(found, 50), percentile(found, 99)
            figures[f"{int(rate)}"] = {
                "sent": sent,
                "delivered": len(found),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "max_ms": round(found[-1], 1) if found else None,
                "hub_cpu_ms_per_order": round(hub_cpu, 2),
                "sandbox_cpu_ms_per_order": round(sandbox_cpu, 2),
            }
            print(
                f"{int(rate):>4} orders/s for {args.seconds:.0f} s: delivered {len(found)}/{sent}"
                f"  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
                f"  CPU per order: hub {hub_cpu:.2f} ms, sandbox {sandbox_cpu:.2f} ms"
            )
    top = figures[f"{int(rates[-1])}"]
    print(
        json.dumps(
            {
                "rates": figures,
                "target": {"rate": 300, "p99_ms": 250},
                "met": top["p99_ms"] <= 250 and top["delivered"] == top["sent"],
            }
        )
    )
    return all(f["delivered"] == f["sent"] for f in figures.values())


def _now() -> Any:
    from hub.model.base import utcnow

    return utcnow()


def _epoch() -> Any:
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)


if __name__ == "__main__":
    main()
