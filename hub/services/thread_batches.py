"""Work handed in by many threads, done together on one thread of its own.

The threaded counterpart of GroupCommitter: each call of `handle` takes the SQLite writer
lock once, so lists handed in while one is being written share the next transaction.
The caller gets a Future and need not wait for it — a bus consumer goes on to its next
batch while the last one is written, and settles its messages when the Future is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)

#: How long the thread waits for work before it ends (the next hand-in starts another).
IDLE_SECONDS = 2.0


@dataclass
class _Job(Generic[T, R]):
    items: list[T]
    future: Future[list[R]] = field(default_factory=Future)


class ThreadBatches(Generic[T, R]):
    """`handle(items)` returns one result per item; the lists handed in while it runs are
    joined (up to `max_items`) for the next call. If a joined call raises, each list is
    handled again alone, so one bad list cannot fail its neighbours."""

    def __init__(
        self, handle: Callable[[list[T]], list[R]], name: str, *, max_items: int = 256
    ) -> None:
        self._handle = handle
        self._name = name
        self._max_items = max_items
        self._jobs: list[_Job[T, R]] = []
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, items: list[T]) -> Future[list[R]]:
        job: _Job[T, R] = _Job(list(items))
        if not job.items:
            job.future.set_result([])
            return job.future
        with self._ready:
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._ready.notify()
        return job.future

    @property
    def waiting(self) -> int:
        """How many lists wait for the next call."""
        with self._ready:
            return len(self._jobs)

    def close(self) -> None:
        """Finish what was handed in, then let the thread go."""
        with self._ready:
            self._closing = True
            thread = self._thread
            self._ready.notify()
        if thread is not None:
            thread.join()
        with self._ready:
            self._closing = False

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._jobs and not self._closing:
                    self._ready.wait(IDLE_SECONDS)
                if not self._jobs:
                    self._thread = None
                    return
                jobs = self._take()
            self._handle_jobs(jobs)

    def _take(self) -> list[_Job[T, R]]:
        """The oldest lists, as many as fit in `max_items` (always at least one)."""
        count, size = 1, len(self._jobs[0].items)
        while count < len(self._jobs) and size + len(self._jobs[count].items) <= self._max_items:
            size += len(self._jobs[count].items)
            count += 1
        jobs, self._jobs = self._jobs[:count], self._jobs[count:]
        return jobs

    def _handle_jobs(self, jobs: list[_Job[T, R]]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            results = self._handle(items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
        except Exception as exc:
            if len(jobs) > 1:
                for job in jobs:
                    self._handle_jobs([job])
                return
            log.warning("%s: %s", self._name, type(exc).__name__)
            jobs[0].future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            job.future.set_result(results[start : start + len(job.items)])
            start += len(job.items)


def then(future: Future[T], step: Callable[[T], R]) -> Future[R]:
    """A Future of `step` applied to the result (or of the same error), made when it is."""
    following: Future[R] = Future()

    def finish(done: Future[T]) -> None:
        try:
            following.set_result(step(done.result()))
        except Exception as exc:  # the caller sees it from result(), as from `future`
            following.set_exception(exc)

    future.add_done_callback(finish)
    return following


def all_of(futures: Sequence[Future[T]]) -> Future[list[T]]:
    """A Future of every result, in order, once the last is done (or of the first error
    among them): the waiting thread is free meanwhile."""
    combined: Future[list[T]] = Future()
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_done: Future[T]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        try:
            combined.set_result([future.result() for future in futures])
        except Exception as exc:  # the caller sees it from result()
            combined.set_exception(exc)

    if not futures:
        combined.set_result([])
    for future in futures:
        future.add_done_callback(one_done)
    return combined


def then_await(future: Future[T], step: Callable[[T], Future[R]]) -> Future[R]:
    """As `then`, for a step that itself hands back a Future: done when that one is."""
    following: Future[R] = Future()

    def relay(inner: Future[R]) -> None:
        try:
            following.set_result(inner.result())
        except Exception as exc:
            following.set_exception(exc)

    def finish(done: Future[T]) -> None:
        try:
            step(done.result()).add_done_callback(relay)
        except Exception as exc:
            following.set_exception(exc)

    future.add_done_callback(finish)
    return following
