"""The pull's writer thread: pages stored in order, those waiting stored together, and a
failed store stops every later one (its error raised in the pulling thread)."""

from __future__ import annotations

import threading

import pytest

from hub.adapters.base import Page
from hub.services.sync import GROUP_PAGES, MappedPage, PageWriter, PendingPage


def pending(number: int) -> PendingPage:
    return PendingPage(MappedPage(Page("matters")), None, str(number), None)


def test_pages_waiting_behind_a_slow_store_are_stored_together_in_order() -> None:
    groups: list[list[str | None]] = []
    started, release = threading.Event(), threading.Event()

    def store(group: list[PendingPage]) -> None:
        started.set()
        release.wait(timeout=10)
        groups.append([p.page_cursor for p in group])

    writer = PageWriter(store, "store-test", inline=False)
    try:
        writer.put(pending(1))
        started.wait(timeout=10)  # page 1 is being stored: the next ones wait together
        for number in range(2, GROUP_PAGES + 2):
            writer.put(pending(number))
        release.set()
        writer.settle()
    finally:
        writer.close()
    assert groups == [["1"], [str(n) for n in range(2, GROUP_PAGES + 2)]]


def test_a_failed_store_stores_nothing_after_it_and_raises_in_the_caller() -> None:
    stored: list[str | None] = []

    def store(group: list[PendingPage]) -> None:
        if any(p.page_cursor == "2" for p in group):
            raise RuntimeError("磁盘已满 (disk full)")
        stored.extend(p.page_cursor for p in group)

    writer = PageWriter(store, "store-test", inline=False)
    try:
        writer.put(pending(1))
        writer.settle()
        writer.put(pending(2))
        with pytest.raises(RuntimeError, match="disk full"):
            writer.settle()
        with pytest.raises(RuntimeError, match="disk full"):
            writer.put(pending(3))
    finally:
        writer.close()
    assert stored == ["1"]


def test_inline_stores_each_page_at_once() -> None:
    stored: list[str | None] = []
    writer = PageWriter(lambda group: stored.extend(p.page_cursor for p in group), "x", inline=True)
    writer.put(pending(1))
    assert stored == ["1"]
    writer.settle()
    writer.close()
