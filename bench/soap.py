"""SOAP adapter throughput against the sandbox Weaver OA, beside a raw POST of the same envelope.

Both run in this process, one call at a time, against the same server: the adapter
(hardened zeep, allow-list check, resilience wrapper, reply parsing) and a bare
`requests.Session.post` of the identical envelope with no parsing. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from lxml import etree

from hub.adapters.factory import build_adapter
from hub.adapters.soap import SoapAdapter
from hub.config import REPO_ROOT
from hub.connectors.loader import load_connector
from hub.connectors.models import RateLimit
from hub.sandbox import running_sandbox

DEFAULT = "http://127.0.0.1:8101"


def timed(call: Callable[[], object], seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "calls_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    options = parser.parse_args()
    os.environ.setdefault("HUB_ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("AIRFLOW_CONN_WEAVER_ENV", "soap://hub:weaver-sandbox@127.0.0.1")
    with running_sandbox(Path(tempfile.mkdtemp()), systems=["weaver"], ports={"weaver": 0}) as sb:
        config = load_connector(REPO_ROOT / "connectors" / "weaver_env.yaml")
        endpoint = config.endpoint.model_copy(
            update={
                key: value.replace(DEFAULT, sb.urls["weaver"])
                for key in ("url", "wsdl")
                if (value := getattr(config.endpoint, key)) is not None
            }
        )
        # The shipped config limits Weaver to 5 calls/s (be gentle with old OA servers); the
        # bench lifts that limit to measure the adapter itself.
        unlimited = RateLimit(per_second=1_000_000, burst=1_000_000)
        adapter = build_adapter(
            config.model_copy(update={"endpoint": endpoint, "rate_limit": unlimited})
        )
        assert isinstance(adapter, SoapAdapter)
        payload = {"externalNo": "JK202611270000001"}
        adapter.call("status_lookup", payload)  # warm: WSDL loaded, session open

        operation = config.operation("status_lookup").operation or ""
        message = adapter.client.create_message(adapter.service, operation, **payload)
        envelope = etree.tostring(message)
        address = adapter.service._binding_options["address"]
        session = requests.Session()
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

        def raw() -> None:
            session.post(address, data=envelope, headers=headers, timeout=10).raise_for_status()

        raw()
        seconds = options.seconds
        baseline = summary(timed(raw, seconds), seconds)
        through_adapter = summary(
            timed(lambda: adapter.call("status_lookup", payload), seconds), seconds
        )
    print(f"raw requests POST:   {baseline}")
    print(f"SOAP adapter (zeep): {through_adapter}")
    print(
        json.dumps(
            {
                "bench": "soap",
                "adapter_calls_per_s": through_adapter["calls_per_s"],
                "adapter_p50_ms": through_adapter["p50_ms"],
                "raw_calls_per_s": baseline["calls_per_s"],
                "raw_p50_ms": baseline["p50_ms"],
                "ratio": round(through_adapter["calls_per_s"] / baseline["calls_per_s"], 3),
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
