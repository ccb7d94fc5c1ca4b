"""ThreadBatches: lists handed in by many threads, handled together on a thread of its own."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from hub.services.thread_batches import ThreadBatches, all_of, then, then_await


class Gate:
    """A handler that doubles its items, holding its first call until released."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        self.entered.set()
        assert self.release.wait(10)
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * 2 for item in items]


Busy = tuple[Gate, ThreadBatches[int, int], Future[list[int]]]


def busy(first: list[int], max_items: int = 256) -> Busy:
    """Batches whose thread is inside its first call (on `first`), held until released."""
    gate = Gate()
    batches: ThreadBatches[int, int] = ThreadBatches(gate, "test-batches", max_items=max_items)
    running = batches.submit(first)
    assert gate.entered.wait(10)
    return gate, batches, running


def test_lists_handed_in_while_one_is_handled_go_together_and_each_gets_its_results() -> None:
    gate, batches, first = busy([1, 2])
    second, third = batches.submit([3]), batches.submit([4, 5])
    gate.release.set()
    assert first.result(10) == [2, 4]
    assert second.result(10) == [6]
    assert third.result(10) == [8, 10]
    assert gate.calls == [[1, 2], [3, 4, 5]]  # the two that waited shared one call
    batches.close()


def test_a_joined_call_that_fails_is_retried_list_by_list() -> None:
    gate, batches, first = busy([1])
    bad, good = batches.submit([-1]), batches.submit([7])
    gate.release.set()
    assert first.result(10) == [2]
    assert good.result(10) == [14]  # not failed by its neighbour
    with pytest.raises(ValueError, match="negative"):
        bad.result(10)
    assert gate.calls == [[1], [-1, 7], [-1], [7]]
    batches.close()


def test_max_items_bounds_a_joined_call() -> None:
    gate, batches, _ = busy([0], max_items=3)
    waiting = [batches.submit([i, i]) for i in range(1, 4)]
    gate.release.set()
    assert [f.result(10) for f in waiting] == [[2, 2], [4, 4], [6, 6]]
    assert gate.calls == [[0], [1, 1], [2, 2], [3, 3]]  # two lists of two exceed three
    batches.close()


def test_close_finishes_what_was_handed_in_and_a_later_hand_in_still_works() -> None:
    gate, batches, pending = busy([1])
    closer = threading.Thread(target=batches.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waits for the call in progress
    gate.release.set()
    closer.join(10)
    assert not closer.is_alive() and pending.done()
    assert not any(t.name == "test-batches" for t in threading.enumerate())
    assert batches.submit([2]).result(10) == [4]
    assert batches.submit([]).result(0) == []
    batches.close()


def test_then_maps_a_result_and_passes_an_error_on() -> None:
    gate = Gate()
    gate.release.set()
    batches: ThreadBatches[int, int] = ThreadBatches(gate, "test-batches")
    assert then(batches.submit([1, 2]), sum).result(10) == 6
    with pytest.raises(ValueError, match="negative"):
        then(batches.submit([-1]), sum).result(10)
    batches.close()


def test_all_of_is_done_with_the_last_result_in_order_or_with_an_error() -> None:
    first: Future[int] = Future()
    second: Future[int] = Future()
    both = all_of([first, second])
    second.set_result(2)
    assert not both.done()  # the first is still out
    first.set_result(1)
    assert both.result(0) == [1, 2]
    assert all_of([]).result(0) == []
    failing: Future[int] = Future()
    failing.set_exception(ValueError("refused"))
    with pytest.raises(ValueError, match="refused"):
        all_of([failing]).result(0)


def test_then_await_is_done_when_the_future_its_step_hands_back_is() -> None:
    source: Future[int] = Future()
    inner: Future[int] = Future()
    chained = then_await(source, lambda value: then(inner, lambda x: x + value))
    source.set_result(10)
    assert not chained.done()  # the step's own Future is not done yet
    inner.set_result(5)
    assert chained.result(0) == 15
    broken: Future[int] = Future()
    failed = then_await(broken, lambda value: inner)
    broken.set_exception(RuntimeError("down"))
    with pytest.raises(RuntimeError, match="down"):
        failed.result(0)
