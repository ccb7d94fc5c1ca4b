"""Fixtures for the flow tests, loaded by each module through ``pytest_plugins``.

A module gets one sandbox (the four department and channel systems the flow talks to);
each test gets a fresh database and a hub on it, with the bus (`hub`) or without it
(`quiet_hub`, where orders wait until a test or a sweep moves them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_helpers import Hub, running_hub
from integration_helpers import control, sandbox_for

from hub.sandbox import Sandbox

SYSTEMS = ("weaver", "seeyon", "tongda", "hotline")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, *SYSTEMS) as running:
        yield running


@pytest.fixture
def fresh_sandbox(sandbox: Sandbox) -> Sandbox:
    for system in SYSTEMS:
        control(sandbox, system, "POST", "/reset")
    return sandbox


@pytest.fixture
def hub(fresh_sandbox: Sandbox, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    with running_hub(fresh_sandbox, database_url, tmp_path) as running:
        yield running


@pytest.fixture
def quiet_hub(fresh_sandbox: Sandbox, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    """The API without the worker: orders wait as received until someone acts."""
    with running_hub(fresh_sandbox, database_url, tmp_path, bus=False) as running:
        yield running
