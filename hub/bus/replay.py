"""Replay a bus dead letter: the same topic, key and payload as a new outbox row.

A new message id, because every consumer has settled the old one (processed or
dead-lettered) and would skip it. The relay then publishes it like any other row.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine

from hub.model.base import utcnow
from hub.services.dead_letters import ReplayOutcome
from hub.store.db import transaction
from hub.store.dead_letters import DeadLetter, mark_replayed
from hub.store.outbox import insert_outbox, outbox_row


def replay_bus_letter(engine: Engine, letter: DeadLetter) -> ReplayOutcome:
    """Queue the letter's message again; mark it replayed in the same transaction."""
    try:
        original = json.loads(letter.payload)
        topic, key, payload = original["topic"], original.get("key"), original["payload"]
        if not isinstance(topic, str) or not isinstance(payload, dict):
            raise TypeError("topic or payload of the wrong type")
    except (ValueError, KeyError, TypeError) as exc:
        return ReplayOutcome(letter.id, False, f"不是总线消息 (not a bus message): {exc}")
    row = outbox_row(topic, key, payload, utcnow())
    with transaction(engine) as conn:
        insert_outbox(conn, [row])
        mark_replayed(conn, letter.id)
    return ReplayOutcome(letter.id, True, f"重新入队 requeued as {row['message_id']}")
