"""While a sync runs, the collector waits for many more new objects (a sync's pages in
flight are freed by reference counting, not by the collector); afterwards it is as it was,
however the syncs end and however many run at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hub.services.sync import SYNC_GC_THRESHOLD, _heap_frozen


@pytest.fixture
def threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    custom = (900, 11, 12)
    gc.set_threshold(*custom)
    try:
        yield custom
    finally:
        gc.set_threshold(*before)


def test_a_sync_raises_the_threshold_and_puts_it_back(threshold: tuple[int, int, int]) -> None:
    with _heap_frozen():
        assert gc.get_threshold() == (SYNC_GC_THRESHOLD, 11, 12)
        assert gc.isenabled()  # cycles made meanwhile are still collected, later
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_a_failed_sync_puts_it_back_too(threshold: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), _heap_frozen():
        raise RuntimeError("store failed")
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_overlapping_syncs_restore_it_when_the_last_ends(threshold: tuple[int, int, int]) -> None:
    first, second = _heap_frozen(), _heap_frozen()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == SYNC_GC_THRESHOLD  # the second still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_garbage_cycles_made_during_a_sync_are_collected_afterwards(
    threshold: tuple[int, int, int],
) -> None:
    class Node:
        pass

    with _heap_frozen():
        node = Node()
        node.self = node  # type: ignore[attr-defined]
        del node
    assert gc.collect() >= 1
