"""The hub inbox delivers once per idempotency key and keeps units apart."""

from __future__ import annotations

from sqlalchemy import Engine

from hub.store.db import transaction
from hub.store.inbox import deliver, find_by_key, mark_read, unit_inbox


def test_delivery_is_idempotent_per_key(engine: Engine) -> None:
    with transaction(engine) as conn:
        first = deliver(
            conn,
            unit_code="JKQ-T01",
            kind="dispatch",
            idempotency_key="JK1:T01",
            title="路灯不亮",
            body={"wo_no": "JK1"},
            wo_no="JK1",
        )
        again = deliver(
            conn,
            unit_code="JKQ-T01",
            kind="dispatch",
            idempotency_key="JK1:T01",
            title="路灯不亮",
            body={"wo_no": "JK1"},
            wo_no="JK1",
        )
    assert first == again
    with engine.connect() as conn:
        assert [i.id for i in unit_inbox(conn, "JKQ-T01")] == [first]
        found = find_by_key(conn, "JK1:T01")
    assert found is not None and found.body == {"wo_no": "JK1"}


def test_units_only_see_and_mark_their_own_items(engine: Engine) -> None:
    with transaction(engine) as conn:
        mine = deliver(
            conn, unit_code="JKQ-T01", kind="urge", idempotency_key="u1", title="催办", body={}
        )
        deliver(conn, unit_code="JKQ-T02", kind="urge", idempotency_key="u2", title="催办", body={})
        assert not mark_read(conn, "JKQ-T02", mine)
        assert mark_read(conn, "JKQ-T01", mine)
    with engine.connect() as conn:
        assert unit_inbox(conn, "JKQ-T01", unread_only=True) == []
        assert len(unit_inbox(conn, "JKQ-T02", unread_only=True)) == 1
