"""Inbox adapter: dispatch to a unit without a system lands in the hub's inbox."""

from __future__ import annotations

import pytest
from servers import connector

from hub.adapters.errors import AdapterError
from hub.adapters.inbox import InboxAdapter, MemoryInbox

OPS = [{"name": "create"}, {"name": "status"}]


def test_create_is_idempotent_and_status_reads_back() -> None:
    sink = MemoryInbox()
    adapter = InboxAdapter(connector("inbox", unit="JKQ-T01", operations=OPS), sink)
    first = adapter.call("create", {"wo_no": "JK1", "idempotency_key": "JK1/JKQ-T01"}).data
    again = adapter.call("create", {"wo_no": "JK1", "idempotency_key": "JK1/JKQ-T01"}).data
    assert first == again and len(sink.items) == 1
    item = adapter.call("status", {"id": first["id"]}).data
    assert item["unit"] == "JKQ-T01" and item["state"] == "new" and item["wo_no"] == "JK1"


def test_other_units_items_are_not_visible() -> None:
    sink = MemoryInbox()
    item = sink.deliver("JKQ-T02", "create", {"wo_no": "JK2"})
    adapter = InboxAdapter(connector("inbox", unit="JKQ-T01", operations=OPS), sink)
    assert adapter.call("status", {"id": item}).data is None


def test_inbox_has_no_streams() -> None:
    adapter = InboxAdapter(connector("inbox", unit="JKQ-T01"), MemoryInbox())
    with pytest.raises(AdapterError):
        adapter.fetch_page("any", None, None)
