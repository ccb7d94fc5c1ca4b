"""The embedded safety net: route and dispatch sweeps on a timer inside the hub's processes.

The bus moves orders in well under a second; this thread finds what a crash left behind
(an order received but never routed, an assignment whose delivery was interrupted) and
finishes it. In production Airflow runs the same sweeps every minute; running both is
harmless because every sweep step is idempotent.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from hub.services.runtime import FlowRuntime

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, runtime: FlowRuntime, interval: float, grace: float = 10.0) -> None:
        self.runtime = runtime
        self.interval = interval
        self.grace = timedelta(seconds=grace)  # leave fresh orders and tasks to the bus
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-sweeper", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def sweep_once(self) -> None:
        for name, report in (
            ("route", self.runtime.sweep_route(older_than=self.grace)),
            ("dispatch", self.runtime.sweep_dispatch(older_than=self.grace)),
        ):
            if report.done:
                log.info("sweep %s: %s", name, report.done)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep_once()
            except Exception:  # the next round tries again; the error is in the log
                log.exception("sweep failed")
