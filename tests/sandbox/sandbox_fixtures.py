"""Sandbox fixtures, loaded by each test module through ``pytest_plugins``.

Not a conftest.py: the test directories have no __init__.py, so every conftest is
imported as the module ``conftest`` and a second one would shadow tests/conftest.py for
the modules that import helpers from it. As a plugin the fixtures are global, so the
session-scoped sandbox really is started once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zeep
from sandbox_helpers import soap_client

from hub.sandbox import Sandbox, running_sandbox


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("sandbox")) as sandbox:
        yield sandbox


@pytest.fixture
def sb(running: Sandbox) -> Sandbox:
    for system in running.systems.values():
        system.reset()
    return running


@pytest.fixture(scope="session")
def weaver(running: Sandbox) -> zeep.Client:
    return soap_client(running.urls["weaver"] + "/services/WorkflowService?wsdl")


@pytest.fixture(scope="session")
def hebei(running: Sandbox) -> zeep.Client:
    return soap_client(running.urls["hebei"] + "/services/ExchangeService?wsdl")
