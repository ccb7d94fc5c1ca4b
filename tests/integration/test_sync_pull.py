"""The sync service (hub.services.sync) pulling through the shipped configs and mappings
into a real store: every record once, the cursor saved, a re-run writes nothing new."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration_helpers import MAPPINGS, adapter_for, control, rebased, sandbox_for
from sqlalchemy import Engine, func, select

from hub.sandbox import Sandbox
from hub.services.catalogue import read_catalogue
from hub.services.sync import StreamPuller
from hub.store.schema import work_orders

SEEDED = 250


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "hebei", "hotline") as running:
        yield running


def puller(engine: Engine, sandbox: Sandbox, name: str, system: str, stream: str) -> StreamPuller:
    config = rebased(name, sandbox, system)
    adapter = adapter_for(config)
    mapping = MAPPINGS[config.stream(stream).mapping]
    return StreamPuller(engine, config, stream, adapter, mapping, read_catalogue(engine))


def test_hotline_orders_pull_once_into_the_store(engine: Engine, sandbox: Sandbox) -> None:
    control(sandbox, "hotline", "POST", "/reset")
    control(sandbox, "hotline", "POST", "/orders", json={"generate": 30})
    first = puller(engine, sandbox, "hotline_centre", "hotline", "orders").pull()
    assert (first.records, first.inserted, first.dead_letters) == (30, 30, 0)
    assert first.cursor_after is not None
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(work_orders)).scalar_one() == 30
    again = puller(engine, sandbox, "hotline_centre", "hotline", "orders").pull()
    assert again.inserted == 0 and again.dead_letters == 0


def test_hebei_matters_pull_every_page(engine: Engine, sandbox: Sandbox) -> None:
    control(sandbox, "hebei", "POST", "/reset")
    control(sandbox, "hebei", "POST", "/seed", json={"matters": SEEDED})
    result = puller(engine, sandbox, "hebei_network", "hebei", "matters").pull()
    assert result.dead_letters == 0
    assert result.inserted == SEEDED
