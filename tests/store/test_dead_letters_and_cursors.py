"""Dead letters keep the original payload whole; cursors move only with their batch."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from hub.store.cursors import get_cursor, save_cursor
from hub.store.db import transaction
from hub.store.dead_letters import add_dead_letter, list_dead_letters, mark_replayed


def test_dead_letter_keeps_text_payload_and_reason(engine: Engine) -> None:
    payload = "<WorkflowRequestInfo><status>审批中</status></WorkflowRequestInfo>"
    with transaction(engine) as conn:
        letter_id = add_dead_letter(
            conn,
            source="weaver_env",
            stream="status",
            payload=payload,
            payload_format="xml",
            field_path="status",
            reason="未知状态 (unknown status)",
        )
    with engine.connect() as conn:
        [letter] = list_dead_letters(conn, "weaver_env")
    assert letter.id == letter_id
    assert letter.original() == payload
    assert (letter.field_path, letter.reason, letter.payload_format) == (
        "status",
        "未知状态 (unknown status)",
        "xml",
    )


def test_dead_letter_keeps_undecodable_bytes_losslessly(engine: Engine) -> None:
    raw = "编号".encode("gbk") + b"\xff\xfe"
    with transaction(engine) as conn:
        add_dead_letter(
            conn,
            source="hotline_centre",
            payload=raw,
            payload_format="json",
            reason="invalid UTF-8",
        )
    with engine.connect() as conn:
        [letter] = list_dead_letters(conn)
    assert letter.payload_format == "base64"
    assert letter.original() == raw


def test_replayed_letters_leave_the_pending_list(engine: Engine) -> None:
    with transaction(engine) as conn:
        first = add_dead_letter(conn, source="a", payload="{}", payload_format="json", reason="x")
        add_dead_letter(conn, source="a", payload="[]", payload_format="json", reason="y")
        mark_replayed(conn, first)
    with engine.connect() as conn:
        assert [d.payload for d in list_dead_letters(conn)] == ["[]"]
        assert len(list_dead_letters(conn, pending_only=False)) == 2


def test_cursor_is_saved_only_with_its_batch(engine: Engine) -> None:
    with transaction(engine) as conn:
        save_cursor(conn, "hebei_network", "matters", "2026-11-01T00:00:00+08:00")
    with pytest.raises(RuntimeError), transaction(engine) as conn:
        save_cursor(conn, "hebei_network", "matters", "2026-11-27T00:00:00+08:00")
        raise RuntimeError("batch failed half-way")
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2026-11-01T00:00:00+08:00"
        assert get_cursor(conn, "hebei_network", "cases") is None
    with transaction(engine) as conn:
        save_cursor(conn, "hebei_network", "matters", "2026-11-27T00:00:00+08:00")
    with engine.connect() as conn:
        assert get_cursor(conn, "hebei_network", "matters") == "2026-11-27T00:00:00+08:00"
