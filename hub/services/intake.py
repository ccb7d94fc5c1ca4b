"""Receive a request once, from any channel: order, first event and outbox row in one commit."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from hub.model.codes import EventAction, WorkOrderState
from hub.model.work_order import WorkOrderSubmission
from hub.services.attributes import attribute_errors
from hub.services.catalogue import Catalogue
from hub.store import work_orders as repo
from hub.store.outbox import insert_outbox, outbox_row

QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone
QUERY_CODE_LENGTH = 8
TOPIC_RECEIVED = "work_order.received"


class IntakeError(Exception):
    """A request the hub refuses; `status` is the HTTP status the API answers with."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 422,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details if details is not None else []


@dataclass(frozen=True)
class Receipt:
    wo_no: str
    query_code: str
    status: WorkOrderState
    created_at: datetime
    response_due: datetime
    open311_token: str | None = None


def new_query_code() -> str:
    # 32 symbols divide 256 evenly, so taking each random byte modulo 32 keeps them uniform.
    return "".join(QUERY_CODE_ALPHABET[b % 32] for b in secrets.token_bytes(QUERY_CODE_LENGTH))


def category_of(submission: WorkOrderSubmission, catalogue: Catalogue) -> str | None:
    """The category given, else the default of the merged hotline the caller dialled."""
    if submission.category_code is not None or submission.source_hotline is None:
        return submission.category_code
    hotline = catalogue.hotlines.get(submission.source_hotline)
    return hotline.default_category if hotline else None


def check_submission(submission: WorkOrderSubmission, catalogue: Catalogue) -> None:
    """Refuse unknown categories and bad attributes before anything is written."""
    category = None
    if submission.source_hotline is not None and (
        submission.source_hotline not in catalogue.hotlines
    ):
        raise IntakeError(
            "unknown_hotline",
            f"不是已并入的热线号码 {submission.source_hotline!r} (not a merged hotline)",
            details=[{"field": "source_hotline", "reason": "unknown hotline"}],
        )
    code = category_of(submission, catalogue)
    if code is not None:
        category = catalogue.categories.get(code)
        if category is None:
            raise IntakeError(
                "unknown_category",
                f"未知的诉求类别 {code!r} (unknown category)",
                details=[{"field": "category_code", "reason": "unknown category"}],
            )
    chosen = submission.category_code is not None
    errors = attribute_errors(category, submission.attributes, require=chosen)
    if errors:
        raise IntakeError(
            "invalid_attributes",
            "类别属性有误 (invalid category attributes)",
            details=[{"field": f, "reason": r} for f, r in errors],
        )


@dataclass(frozen=True)
class NewOrder:
    """One checked submission waiting to be written."""

    submission: WorkOrderSubmission
    actor: str
    open311_token: str | None = None


def _order_row(
    order: NewOrder,
    wo_no: str,
    query_code: str,
    catalogue: Catalogue,
    now: datetime,
    response_due: datetime,
) -> dict[str, Any]:
    submission = order.submission
    category_code = category_of(submission, catalogue)
    category = catalogue.categories.get(category_code or "")
    location = submission.location
    return {
        "wo_no": wo_no,
        "query_code_hash": repo.hash_secret(query_code),
        "status": WorkOrderState.RECEIVED.value,
        "channel": submission.channel.value,
        "source_system": submission.source_system,
        "external_id": submission.external_id,
        "source_hotline": submission.source_hotline,
        "appeal_type": submission.appeal_type.value,
        "category_code": category_code,
        "section_code": category.section if category else None,
        "title": submission.title,
        "content": submission.content,
        "urgency": submission.urgency.value,
        "region_code": location.region_code if location else None,
        "location": location.model_dump(mode="json") if location else None,
        "requester": submission.requester.model_dump(mode="json", exclude_none=True),
        "matter_code": submission.matter_code,
        "attachments": [a.model_dump(mode="json") for a in submission.attachments],
        "attributes": dict(submission.attributes),
        "occurred_at": submission.occurred_at,
        "sla": {"response_due": response_due.isoformat(), "extension_count": 0},
        "open311_token": order.open311_token,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _received_event(submission: WorkOrderSubmission, actor: str) -> repo.NewEvent:
    return repo.NewEvent(
        action=EventAction.RECEIVED,
        actor=actor,
        state_before=None,
        state_after=WorkOrderState.RECEIVED,
        note=f"诉求已受理（{submission.channel.label}）",
        data={"channel": submission.channel.value},
    )


@dataclass(frozen=True)
class PreparedOrder:
    """An order with its number and all its rows built, ready for a short write."""

    order: NewOrder
    receipt: Receipt
    row: dict[str, Any]
    event: dict[str, Any]
    outbox: dict[str, Any]

    @property
    def external_key(self) -> tuple[str, str] | None:
        sub = self.order.submission
        return (
            (sub.source_system, sub.external_id) if sub.source_system and sub.external_id else None
        )


def prepare_orders(
    orders: list[NewOrder],
    serials: list[int],
    *,
    catalogue: Catalogue,
    now: datetime,
    response_minutes: int,
) -> list[PreparedOrder]:
    """Build every row outside the transaction, so the write lock is held only to write."""
    response_due = now + timedelta(minutes=response_minutes)
    prefix = repo.wo_no_prefix(now)
    prepared = []
    for order, serial in zip(orders, serials, strict=True):
        wo_no = prefix + repo.format_serial(serial)
        query_code = new_query_code()
        prepared.append(
            PreparedOrder(
                order,
                Receipt(
                    wo_no,
                    query_code,
                    WorkOrderState.RECEIVED,
                    now,
                    response_due,
                    order.open311_token,
                ),
                row := _order_row(order, wo_no, query_code, catalogue, now, response_due),
                repo.event_row(wo_no, 1, _received_event(order.submission, order.actor), now),
                outbox_row(TOPIC_RECEIVED, wo_no, _payload(row), now),
            )
        )
    return prepared


def _duplicate(wo_no: str) -> IntakeError:
    return IntakeError(
        "duplicate_external_id",
        "该来源系统的编号已受理过 (this external id was already received)",
        status=409,
        details={"wo_no": wo_no},
    )


#: Stores, in the given transaction, those of the given orders whose routing it decided
#: beforehand, already routed; returns their numbers (the caller stores the others).
WriteRouting = Callable[[Connection, "list[PreparedOrder]"], set[str]]
#: Decides the routing of new orders (their rows) before their write, outside the lock.
RouteOnReceipt = Callable[[list[dict[str, Any]]], WriteRouting]


def write_orders(
    conn: Connection, prepared: list[PreparedOrder], routing: WriteRouting | None = None
) -> list[Receipt | IntakeError]:
    """Insert prepared orders with one statement per table (group commit).

    Each order gets its row, its first event and its outbox row, all in the caller's
    transaction. An order whose (source_system, external_id) was received before, or
    earlier in this batch, is refused with the number it duplicates.

    `routing`: where this process runs the flow, the orders whose routing it decided before
    are stored already routed, in the same transaction; they need no route-queue message.
    """
    keys = {p.external_key for p in prepared if p.external_key}
    known = repo.find_by_external_ids(conn, list(keys))
    results: list[Receipt | IntakeError] = []
    accepted: list[PreparedOrder] = []
    for item in prepared:
        key = item.external_key
        if key is not None and key in known:
            results.append(_duplicate(known[key]))
            continue
        if key is not None:
            known[key] = item.receipt.wo_no
        accepted.append(item)
        results.append(item.receipt)
    routed = routing(conn, accepted) if routing is not None and accepted else set()
    received = [p for p in accepted if p.receipt.wo_no not in routed]
    if received:
        repo.insert_work_orders(conn, [p.row for p in received])
        repo.insert_events(conn, [p.event for p in received])
        insert_outbox(conn, [p.outbox for p in received])
    return results


def receive_many(
    conn: Connection,
    orders: list[NewOrder],
    *,
    catalogue: Catalogue,
    now: datetime,
    response_minutes: int,
) -> list[Receipt | IntakeError]:
    """Prepare and write in the caller's transaction (for callers outside the API)."""
    prepared = prepare_orders(
        orders,
        repo.allocate_serials(conn, len(orders)) if orders else [],
        catalogue=catalogue,
        now=now,
        response_minutes=response_minutes,
    )
    return write_orders(conn, prepared)


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    """What the router needs to know without reading the order back."""
    keys = ("wo_no", "channel", "appeal_type", "category_code", "urgency", "source_hotline")
    return {key: row[key] for key in keys}


def receive(
    conn: Connection,
    submission: WorkOrderSubmission,
    *,
    actor: str,
    catalogue: Catalogue,
    now: datetime,
    response_minutes: int,
    open311_token: str | None = None,
) -> Receipt:
    """Check and write one order in the caller's transaction; raises IntakeError."""
    check_submission(submission, catalogue)
    [result] = receive_many(
        conn,
        [NewOrder(submission, actor, open311_token)],
        catalogue=catalogue,
        now=now,
        response_minutes=response_minutes,
    )
    if isinstance(result, IntakeError):
        raise result
    return result
