"""Group commit: many concurrent requests share one write transaction.

Each request still gets its answer only after its rows are committed, so the database
stays the system of record; what is shared is the per-transaction cost (BEGIN, COMMIT,
statement set-up), which on SQLite is most of the cost of a small write.

Batches form naturally: requests that arrive while a batch is being written queue up and
go together in the next one. The preparation runs through `run` (inline on the event loop
for SQLite, in the thread pool for PostgreSQL); the write goes to the process's write
rounds (hub.services.write_rounds), where it shares a transaction with the process's other
writes of the moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from hub.services.write_rounds import write_rounds

J = TypeVar("J")
P = TypeVar("P")
R = TypeVar("R")
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]
log = logging.getLogger(__name__)


class GroupCommitter(Generic[J, P, R]):
    """Queues jobs from concurrent requests and writes them in batches.

    `prepare(jobs)` does the work that needs no database lock; `write(conn, prepared)`
    runs in a write round (in a savepoint) and returns one result per job. If a batch
    raises, each of its jobs is retried alone, so one bad job cannot fail its neighbours.
    """

    def __init__(
        self,
        engine: Engine,
        prepare: Callable[[list[J]], P],
        write: Callable[[Connection, P], list[R]],
        run: Runner,
        *,
        max_batch: int = 256,
    ) -> None:
        self._writer = write_rounds(engine)
        self._prepare = prepare
        self._write_batch = write
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[J, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, job: J) -> R:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start several): start afresh
            self._loop, self._pending, self._flusher = loop, [], None
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((job, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._process(batch)

    async def _process(self, batch: list[tuple[J, asyncio.Future[R]]]) -> None:
        try:
            jobs = [job for job, _ in batch]
            # `run`: preparing may read (e.g. routing on receipt); no lock is held yet.
            prepared = await self._run(lambda: self._prepare(jobs))
            # Requests keep arriving while the batch is written; they form the next one.
            write = self._writer.submit(lambda conn: self._write_batch(conn, prepared))
            results = await asyncio.wrap_future(write)
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    await self._process([item])
                return
            log.warning("group commit job failed: %s", type(exc).__name__)
            _settle(batch[0][1], None, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result, None)

    def close(self) -> None:
        """Nothing to stop: pending jobs finish with the requests that wait for them."""


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
