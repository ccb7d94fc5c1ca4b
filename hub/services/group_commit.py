"""Group commit: many concurrent requests share one write transaction.

Each request still gets its answer only after its rows are committed, so the database
stays the system of record; what is shared is the per-transaction cost (BEGIN, COMMIT,
statement set-up), which on SQLite is most of the cost of a small write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from hub.store.db import transaction

J = TypeVar("J")
R = TypeVar("R")
log = logging.getLogger(__name__)
_STOP = object()


@dataclass
class _Pending(Generic[J]):
    job: J
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitter(Generic[J, R]):
    """A writer thread that drains queued jobs and runs them in batches.

    `write_batch(conn, jobs)` returns one result per job. If the batch raises, each job is
    retried alone, so one bad job cannot fail its neighbours.
    """

    def __init__(
        self,
        engine: Engine,
        write_batch: Callable[[Connection, list[J]], list[R]],
        *,
        max_batch: int = 128,
        name: str = "group-commit",
    ) -> None:
        self._engine = engine
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._lock = threading.Lock()

    async def submit(self, job: J) -> R:
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Pending(job, future, loop))
        return await future

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True

    def close(self, timeout: float = 10.0) -> None:
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._process(batch)

    def _process(self, batch: list[_Pending[J]]) -> None:
        try:
            with transaction(self._engine) as conn:
                results = self._write_batch(conn, [p.job for p in batch])
        except Exception as exc:
            if len(batch) > 1:
                for pending in batch:
                    self._process([pending])
                return
            log.warning("group commit job failed: %s", type(exc).__name__)
            self._resolve(batch[0], None, exc)
            return
        for pending, result in zip(batch, results, strict=True):
            self._resolve(pending, result, None)

    @staticmethod
    def _resolve(pending: _Pending[J], result: Any, error: BaseException | None) -> None:
        # RuntimeError: the request's loop is gone (client left, server stopping).
        with contextlib.suppress(RuntimeError):
            pending.loop.call_soon_threadsafe(_settle, pending.future, result, error)
