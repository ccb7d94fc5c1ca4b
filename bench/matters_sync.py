"""Matter-catalogue sync throughput: 100,000 matters from the sandbox Hebei network.

The sandbox runs in its own process (as the provincial network would), seeded with N
matters. The hub pulls the `matters` stream of the shipped hebei_network connector through
the real path — SOAP adapter, mapping hebei_matter, the service_matter sink (versions,
content hash, search index) — into a fresh hub database:

1. full sync: every matter new (rows/s = N / elapsed);
2. unchanged re-sync: the cursor reset so all N rows are read again, nothing written
   (rows/s = N / elapsed); records whose raw form was stored before skip mapping;
3. incremental re-sync: the saved cursor (only the 10-minute lookback is re-read).

Two settings differ from the shipped file, and only to measure the hub: pages of 1,000
(the exchange allows up to 1,000; the file asks 100) and no client-side rate limit (the
file allows 2 calls/s to spare the provincial platform). Targets (issue 6): >= 5,000
rows/s full and >= 50,000 rows/s unchanged. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from hub.adapters.factory import build_adapter
from hub.config import REPO_ROOT
from hub.connectors.loader import load_connector
from hub.connectors.models import ConnectorConfig, RateLimit
from hub.mapping import load_mapping
from hub.reference import load_reference
from hub.services.catalogue import read_catalogue
from hub.services.sync import PullResult, StreamPuller
from hub.store.db import make_engine
from hub.store.migrate import upgrade
from hub.store.reference import load_reference_data
from hub.store.schema import service_matter_grams, service_matter_versions, sync_cursors

DEFAULT = "http://127.0.0.1:8104"
TARGET_FULL = 5_000
TARGET_UNCHANGED = 50_000


def serve(data_dir: str, matters: int, ready: Any, stop: Any) -> None:
    """The sandbox Hebei network in a child process, until told to stop."""
    from hub.sandbox.runner import start_sandbox

    sandbox = start_sandbox(Path(data_dir), systems=["hebei"], seed_matters=matters)
    ready.put(sandbox.urls["hebei"])
    stop.wait()
    sandbox.stop()


def bench_config(url: str, page_size: int) -> ConnectorConfig:
    config = load_connector(REPO_ROOT / "connectors" / "hebei_network.yaml")
    endpoint = config.endpoint.model_copy(
        update={"wsdl": (config.endpoint.wsdl or "").replace(DEFAULT, url)}
    )
    streams = [
        s.model_copy(update={"paging": s.paging.model_copy(update={"size": page_size})})
        if s.paging is not None
        else s
        for s in config.streams
    ]
    unlimited = RateLimit(per_second=1_000_000, burst=1_000_000)
    return config.model_copy(
        update={"endpoint": endpoint, "streams": streams, "rate_limit": unlimited}
    )


@dataclass
class Run:
    result: PullResult
    seconds: float
    cpu_seconds: float  # this process (the hub) only; the sandbox runs in its own


def pull(engine: Any, config: ConnectorConfig) -> Run:
    adapter = build_adapter(config, base_dir=REPO_ROOT / "connectors")
    mapping = load_mapping(REPO_ROOT / "mappings" / "hebei_matter.yaml")
    puller = StreamPuller(engine, config, "matters", adapter, mapping, read_catalogue(engine))
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = puller.pull(max_pages=100_000)
    finally:
        adapter.close()
    return Run(result, time.perf_counter() - started, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--matters", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--database-url", help="hub database (default: a fresh SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    os.environ.setdefault("HUB_ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("AIRFLOW_CONN_HEBEI_NETWORK", "soap://bench:hebei-sandbox@127.0.0.1")
    work = Path(tempfile.mkdtemp(prefix="matters-bench-"))
    url = options.database_url or f"sqlite:///{work / 'hub.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        load_reference_data(conn, load_reference(REPO_ROOT / "policies"))

    context = mp.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(
        target=serve, args=(str(work / "sandbox"), options.matters, ready, stop)
    )
    server.start()
    try:
        config = bench_config(ready.get(timeout=300), options.page_size)
        n = options.matters
        print(f"sandbox seeded with {n:,} matters; hub database {engine.url.get_backend_name()}")

        full = pull(engine, config)
        assert full.result.inserted == n and full.result.dead_letters == 0, full
        report("full sync", n, full)

        with engine.begin() as conn:  # read everything again: a full reconciliation
            conn.execute(delete(sync_cursors))
        again = pull(engine, config)
        assert again.result.unchanged == n, again
        assert again.result.inserted == again.result.changed == 0, again
        report("unchanged resync", n, again)
        print(f"  ({again.result.skipped:,} records skipped unmapped: fingerprint known)")

        incremental = pull(engine, config)
        assert incremental.result.inserted == incremental.result.changed == 0, incremental
        print(
            f"incremental      {incremental.result.records:>9,} rows in"
            f" {incremental.seconds:7.2f} s (cursor kept: the 10-minute lookback only)"
        )
        with engine.connect() as conn:
            versions = conn.execute(
                select(func.count()).select_from(service_matter_versions)
            ).scalar_one()
            grams = conn.execute(
                select(func.count()).select_from(service_matter_grams)
            ).scalar_one()
        assert versions == n, versions
    finally:
        stop.set()
        server.join(timeout=30)
        engine.dispose()
        if options.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    full_rate, again_rate = n / full.seconds, n / again.seconds
    print(
        json.dumps(
            {
                "bench": "matters_sync",
                "matters": n,
                "database": engine.url.get_backend_name(),
                "page_size": options.page_size,
                "full_seconds": round(full.seconds, 2),
                "full_rows_per_s": round(full_rate),
                "full_hub_cpu_seconds": round(full.cpu_seconds, 2),
                "unchanged_seconds": round(again.seconds, 2),
                "unchanged_rows_per_s": round(again_rate),
                "unchanged_hub_cpu_seconds": round(again.cpu_seconds, 2),
                "unchanged_skipped_by_fingerprint": again.result.skipped,
                "incremental_rows": incremental.result.records,
                "incremental_seconds": round(incremental.seconds, 3),
                "search_bigrams": grams,
                "load_average_1m": round(os.getloadavg()[0], 2),
                "target_full": TARGET_FULL,
                "target_unchanged": TARGET_UNCHANGED,
                "full_ok": full_rate >= TARGET_FULL,
                "unchanged_ok": again_rate >= TARGET_UNCHANGED,
            }
        )
    )


def report(name: str, n: int, run: Run) -> None:
    print(
        f"{name:16} {n:>9,} rows in {run.seconds:7.2f} s = {n / run.seconds:>9,.0f} rows/s"
        f"  (hub CPU {run.cpu_seconds:.2f} s)"
    )


if __name__ == "__main__":
    main()
