"""Serving processes move what they loaded out of the cyclic collector's sight (hub.heap);
library use and tests, which build and drop whole hubs, do not."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub import heap
from hub.api.app import create_app
from hub.config import REPO_ROOT, Settings
from hub.services.pool import ConnectorPool
from hub.store.db import make_engine
from hub.store.migrate import upgrade


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector afterwards."""
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


def settings_in(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        policies_dir=REPO_ROOT / "policies",
        connectors_dir=REPO_ROOT / "connectors",
        mappings_dir=REPO_ROOT / "mappings",
    )


def test_nothing_is_frozen_outside_a_serving_process(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(heap.SETTLE_ENV, raising=False)
    heap.settle_loaded()
    heap.settle_young()
    assert gc.get_freeze_count() == 0


def test_settling_freezes_what_is_loaded_and_later_cycles_are_still_collected(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(heap.SETTLE_ENV, "1")
    loaded = _Node()
    heap.settle_loaded()
    assert gc.get_freeze_count() > 0
    assert not any(obj is loaded for obj in gc.get_objects())  # out of the collector's sight

    later = _Node()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None  # what the process makes afterwards is collected as usual


def test_the_api_process_settles_once_started(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(heap.SETTLE_ENV, "1")
    settings = settings_in(tmp_path)
    upgrade(make_engine(settings.database_url))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 0


def test_a_connector_adapter_built_while_serving_is_settled(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(heap.SETTLE_ENV, "1")
    settings = settings_in(tmp_path)
    pool = ConnectorPool(settings, make_engine(settings.database_url))
    pool.config("inbox_town")
    assert gc.get_freeze_count() == 0
    adapter = pool.adapter("inbox_town")
    assert gc.get_freeze_count() > 0
    assert not any(obj is adapter for obj in gc.get_objects())
    assert pool.adapter("inbox_town") is adapter
