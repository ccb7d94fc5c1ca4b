"""Intake throughput: concurrent clients POST work orders to uvicorn on loopback.

Runs, in the same process and on the same machine, the same load against a baseline app
that validates the same body with the same pydantic model and writes nothing. Prints
accepted orders/s and p50/p99 latency for both, and a last line of JSON with the ratio.
Target (issue 2, SQLite, 2 cores): >= 1,500 orders/s and ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import run_load

from hub.sandbox.wiring import free_ports
from hub.store import api_keys
from hub.store.db import make_engine
from hub.store.schema import work_orders

HOST = "127.0.0.1"
BODY = {
    "channel": "app",
    "appeal_type": "complaint",
    "category_code": "ENV-NOISE",
    "title": "夜间施工噪音扰民",
    "content": "经开区某路口工地夜间施工，噪声很大，影响休息，请相关部门尽快处理。" * 3,
    "urgency": "normal",
    "location": {"address": "经开区某路与某街交叉口", "region_code": "130199001"},
    "requester": {"name": "张三", "phone": "13812341234", "id_number": "130102199003071233"},
    "attributes": {"noise_period": "night"},
}


@contextmanager
def server(args: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                requests.get(f"http://{HOST}:{port}/docs", timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "no start")
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(port: int, path: str, headers: dict[str, str], seconds: float, concurrency: int):  # type: ignore[no-untyped-def]
    body = json.dumps(BODY, ensure_ascii=False).encode()
    run_load(HOST, port, path, body, headers, seconds=1.0, concurrency=concurrency)  # warm-up
    return run_load(HOST, port, path, body, headers, seconds=seconds, concurrency=concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers, for both apps")
    options = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="jk-bench-"))
    env = {**os.environ, "HUB_HOME": str(home)}
    env.pop("HUB_DATABASE_URL", None)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "jingkai"), "init"], env=env, check=True, capture_output=True)
    engine = make_engine(f"sqlite:///{home / 'hub.db'}")
    with engine.begin() as conn:
        _, key = api_keys.create_key(conn, "bench", "portal")

    base_port, hub_port = free_ports(2)
    common = ["--log-level", "warning", "--no-access-log", "--workers", str(options.workers)]
    baseline_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(__file__).parent),
        "baseline_app:app",
        "--host",
        HOST,
        "--port",
        str(base_port),
        *common,
    ]
    with server(baseline_cmd, env, base_port):
        baseline = measure(base_port, "/validate", {}, options.seconds, options.concurrency)
    hub_cmd = [str(bin_dir / "jingkai"), "serve", "--host", HOST, "--port", str(hub_port), *common]
    with server(hub_cmd, env, hub_port):
        hub = measure(
            hub_port,
            "/api/v1/work-orders",
            {"X-API-Key": key},
            options.seconds,
            options.concurrency,
        )
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(work_orders)).scalar_one()

    print(f"baseline (validate only): {baseline.summary()}")
    print(f"hub intake (SQLite WAL):  {hub.summary()}  statuses={hub.statuses}")
    print(f"orders stored: {stored}")
    ratio = hub.per_second / baseline.per_second if baseline.per_second else 0.0
    print(
        json.dumps(
            {
                "bench": "intake",
                "orders_per_s": round(hub.per_second, 1),
                "p50_ms": round(hub.percentile(50), 2),
                "p99_ms": round(hub.percentile(99), 2),
                "baseline_per_s": round(baseline.per_second, 1),
                "baseline_p50_ms": round(baseline.percentile(50), 2),
                "baseline_p99_ms": round(baseline.percentile(99), 2),
                "ratio": round(ratio, 3),
                "errors": hub.errors,
                "stored": stored,
                "workers": options.workers,
                "concurrency": options.concurrency,
                "seconds": options.seconds,
                "targets": {"orders_per_s": 1500, "ratio": 0.5},
            }
        )
    )


if __name__ == "__main__":
    main()
