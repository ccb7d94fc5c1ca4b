"""The connectors a process dispatches to are loaded as its flow starts, not by the first
orders (whose write round would otherwise wait ~50 ms per connector for the files)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from hub.config import REPO_ROOT, Settings
from hub.services import pool as pool_module
from hub.services.pool import ConnectorPool
from hub.store.db import make_engine


def test_preload_loads_every_connector_once_and_reports_one_that_does_not_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    connectors = tmp_path / "connectors"
    shutil.copytree(REPO_ROOT / "connectors", connectors)
    (connectors / "broken_oa.yaml").write_text("name: broken_oa\nprotocol: [\n", encoding="utf-8")
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        policies_dir=REPO_ROOT / "policies",
        connectors_dir=connectors,
        mappings_dir=REPO_ROOT / "mappings",
    )
    loads: list[str] = []
    real_load = pool_module.load_one

    def counted(settings: Settings, name: str):  # type: ignore[no-untyped-def]
        loads.append(name)
        return real_load(settings, name)

    monkeypatch.setattr(pool_module, "load_one", counted)
    pool = ConnectorPool(settings, make_engine(settings.database_url))
    with caplog.at_level(logging.WARNING, logger="hub.services.pool"):
        pool.preload()
    assert sorted(loads) == pool.names()
    assert "connector broken_oa not loaded" in caplog.text
    assert pool.config("weaver_env").name == "weaver_env"
    assert pool.mapping("weaver_create").name == "weaver_create"
    assert sorted(loads) == pool.names()  # nothing loaded again on use
