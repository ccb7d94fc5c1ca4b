"""The shipped connector configs fit the shipped mappings and the sandbox's real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_helpers import CONNECTORS, MAPPINGS, adapter_for, rebased, sandbox_env, sandbox_for

from hub.adapters.soap import SoapAdapter
from hub.connectors.allowlist import AllowList
from hub.connectors.loader import check_hosts, load_connectors
from hub.sandbox import Sandbox

CONFIGS = load_connectors(CONNECTORS)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox_for(tmp_path_factory, "weaver", "hebei") as running:
        yield running


def test_every_mapping_reference_exists_and_points_the_right_way() -> None:
    for config in CONFIGS.values():
        for stream in config.streams:
            mapping = MAPPINGS[stream.mapping]
            assert mapping.direction == "inbound", (config.name, stream.name)
            if stream.cursor is not None:  # the sync reads the cursor through the mapping
                mapping.reader(stream.cursor.field)
        for op in config.operations:
            if op.mapping is not None:
                assert MAPPINGS[op.mapping].direction == "outbound", (config.name, op.name)
            if op.response_mapping is not None:
                assert MAPPINGS[op.response_mapping].direction == "inbound", (config.name, op.name)


def test_shipped_hosts_pass_the_allow_list_from_the_environment() -> None:
    with sandbox_env():
        allow = AllowList.from_env()
        for name in CONFIGS:
            check_hosts(Path(CONNECTORS / f"{name}.yaml"), CONFIGS[name], allow)


@pytest.mark.parametrize(("name", "system"), [("weaver_env", "weaver"), ("hebei_network", "hebei")])
def test_soap_operations_exist_in_the_sandbox_wsdl(
    sandbox: Sandbox, name: str, system: str
) -> None:
    config = rebased(name, sandbox, system)
    adapter = adapter_for(config)
    assert isinstance(adapter, SoapAdapter)
    offered = set(adapter.operations())
    used = {s.operation for s in config.streams} | {o.operation for o in config.operations}
    assert used <= offered, used - offered
    adapter.close()
