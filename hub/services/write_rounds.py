"""One writer per process: the background writes of a process share one transaction.

The intake's batches, the tasks the dispatcher records and the bus ledger each used to
take the database's writer lock on their own, three to five times a round. Under load
the lock was held nearly all the time and most of a hold was the holder waiting for a
core, so every extra hold cost as much as a long one. Here each of them hands its write
in as a job; the writer thread runs the jobs that arrived meanwhile in one transaction,
each in a savepoint of its own, so a job that fails is rolled back alone and the others
commit. If the commit itself fails, each job is tried again in a transaction of its own.

A job gets the round's connection and must write through it only: opening a transaction
of its own (or waiting for another job) on the writer thread would wait for itself.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from hub.services.thread_batches import ThreadBatches, then
from hub.store.db import savepoint, transaction

R = TypeVar("R")
Job = Callable[[Connection], Any]


@dataclass(frozen=True)
class _Done(Generic[R]):
    result: R | None = None
    error: Exception | None = None

    def value(self) -> R:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class WriteRounds:
    """`submit(job)` → a Future of what `job(conn)` returned, set once its round has
    committed (or of the error the job raised)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rounds: ThreadBatches[Job, _Done[Any]] = ThreadBatches(self._round, "hub-writer")

    def submit(self, job: Callable[[Connection], R]) -> Future[R]:
        return then(self._rounds.submit([job]), _first_value)

    def write(self, job: Callable[[Connection], R]) -> R:
        """Submit and wait (not from the writer thread: see the module's note)."""
        return self.submit(job).result()

    @property
    def waiting(self) -> int:
        """Jobs waiting for the next round."""
        return self._rounds.waiting

    def close(self) -> None:
        """Write what was handed in; the next submit starts the writer again."""
        self._rounds.close()

    def _round(self, jobs: list[Job]) -> list[_Done[Any]]:
        done: list[_Done[Any]] = []
        with transaction(self.engine) as conn:
            for job in jobs:
                try:
                    with savepoint(conn):
                        done.append(_Done(job(conn)))
                except Exception as exc:  # this job's writes are rolled back, not the round's
                    done.append(_Done(error=exc))
        return done


def _first_value(done: list[_Done[R]]) -> R:
    return done[0].value()


@lru_cache(maxsize=32)
def write_rounds(engine: Engine) -> WriteRounds:
    """The process's writer for `engine` (its thread runs only while there is work)."""
    return WriteRounds(engine)
