"""Receive a request once, from any channel: order, first event and outbox row in one commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from hub.model.codes import EventAction, WorkOrderState
from hub.model.work_order import WorkOrderSubmission
from hub.services.attributes import attribute_errors
from hub.services.catalogue import Catalogue
from hub.store import work_orders as repo

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
    extra: dict[str, Any] = field(default_factory=dict)


def new_query_code() -> str:
    return "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(QUERY_CODE_LENGTH))


def check_submission(submission: WorkOrderSubmission, catalogue: Catalogue) -> None:
    """Refuse unknown categories and bad attributes before anything is written."""
    category = None
    if submission.category_code is not None:
        category = catalogue.categories.get(submission.category_code)
        if category is None:
            raise IntakeError(
                "unknown_category",
                f"未知的诉求类别 {submission.category_code!r} (unknown category)",
                details=[{"field": "category_code", "reason": "unknown category"}],
            )
    errors = attribute_errors(category, submission.attributes)
    if errors:
        raise IntakeError(
            "invalid_attributes",
            "类别属性有误 (invalid category attributes)",
            details=[{"field": f, "reason": r} for f, r in errors],
        )


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
    """Write a new order; the caller owns the transaction (so idempotency joins it)."""
    check_submission(submission, catalogue)
    if submission.source_system and submission.external_id:
        existing = repo.find_by_external_id(conn, submission.source_system, submission.external_id)
        if existing:
            raise IntakeError(
                "duplicate_external_id",
                "该来源系统的编号已受理过 (this external id was already received)",
                status=409,
                details={"wo_no": existing},
            )
    category = catalogue.categories.get(submission.category_code or "")
    query_code = new_query_code()
    response_due = now + timedelta(minutes=response_minutes)
    location = submission.location
    wo_no = repo.insert_work_order(
        conn,
        {
            "query_code_hash": repo.hash_secret(query_code),
            "status": WorkOrderState.RECEIVED.value,
            "channel": submission.channel.value,
            "source_system": submission.source_system,
            "external_id": submission.external_id,
            "appeal_type": submission.appeal_type.value,
            "category_code": submission.category_code,
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
            "open311_token": open311_token,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        },
    )
    repo.append_event(
        conn,
        wo_no,
        repo.NewEvent(
            action=EventAction.RECEIVED,
            actor=actor,
            state_before=None,
            state_after=WorkOrderState.RECEIVED,
            note=f"诉求已受理（{submission.channel.label}）",
            data={"channel": submission.channel.value},
        ),
        at=now,
        seq=1,
    )
    repo.add_outbox(
        conn,
        TOPIC_RECEIVED,
        wo_no,
        {
            "wo_no": wo_no,
            "channel": submission.channel.value,
            "appeal_type": submission.appeal_type.value,
            "category_code": submission.category_code,
            "urgency": submission.urgency.value,
        },
        at=now,
    )
    return Receipt(wo_no, query_code, WorkOrderState.RECEIVED, now, response_due, open311_token)
