"""The store-backed inbox for units without a system (plugs into hub.adapters.inbox)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from hub.store import inbox as store
from hub.store.db import transaction


class StoreInbox:
    """InboxSink over the inbox_items table: idempotent on the payload's key."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def deliver(self, unit: str, kind: str, payload: Mapping[str, Any]) -> str:
        wo_no = payload.get("wo_no")
        key = str(payload.get("idempotency_key") or f"{kind}:{wo_no}:{unit}")
        title = str(payload.get("title") or payload.get("subject") or kind)
        with transaction(self._engine) as conn:
            item_id = store.deliver(
                conn,
                unit_code=unit,
                kind=kind,
                idempotency_key=key,
                title=title[:200],
                body=dict(payload),
                wo_no=str(wo_no) if wo_no else None,
            )
        return str(item_id)

    def lookup(self, unit: str, item_id: str) -> Mapping[str, Any] | None:
        if not item_id.isdigit():
            return None
        with self._engine.connect() as conn:
            item = store.get_item(conn, unit, int(item_id))
        if item is None:
            return None
        state = "read" if item.read_at else "new"
        return {"id": str(item.id), "unit": unit, "kind": item.kind, "state": state, **item.body}
