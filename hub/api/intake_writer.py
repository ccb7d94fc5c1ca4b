"""Intake through group commit: checked submissions from all requests, written in batches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from hub.api.errors import ApiError
from hub.api.idempotent import replay
from hub.config import Settings
from hub.model.base import utcnow
from hub.services.catalogue import CatalogueCache
from hub.services.group_commit import GroupCommitter, Runner
from hub.services.intake import (
    IntakeError,
    NewOrder,
    PreparedOrder,
    Receipt,
    RouteOnReceipt,
    WriteRouting,
    prepare_orders,
    write_orders,
)
from hub.store.idempotency import StoredResponse, find_response, save_responses
from hub.store.serials import SerialBlocks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitJob:
    order: NewOrder
    api_key_id: int
    render: Callable[[Receipt], Any]
    idempotency_key: str | None = None
    request_hash: str | None = None

    @property
    def key(self) -> tuple[int, str] | None:
        return (self.api_key_id, self.idempotency_key) if self.idempotency_key else None


@dataclass(frozen=True)
class Submitted:
    status: int
    body: Any
    replayed: bool


Outcome = Submitted | ApiError | IntakeError


def _replayed(job: SubmitJob, stored: StoredResponse) -> Outcome:
    try:
        status, body = replay(stored, job.request_hash)
    except ApiError as exc:
        return exc
    return Submitted(status, body, True)


@dataclass(frozen=True)
class PreparedJob:
    job: SubmitJob
    order: PreparedOrder
    body: Any


@dataclass(frozen=True)
class PreparedBatch:
    jobs: list[PreparedJob]
    routing: WriteRouting | None = None


class SubmissionWriter:
    """The two halves of a group-committed intake batch (see GroupCommitter)."""

    def __init__(self, engine: Engine, catalogue: CatalogueCache, settings: Settings) -> None:
        self.engine = engine
        self._serials = SerialBlocks(engine)
        self._catalogue = catalogue
        self._settings = settings
        #: Set where this process runs the flow (the embedded worker): see write_orders.
        self.route: RouteOnReceipt | None = None

    def prepare(self, jobs: list[SubmitJob]) -> PreparedBatch:
        orders = prepare_orders(
            [job.order for job in jobs],
            self._serials.take(len(jobs)),
            catalogue=self._catalogue.get(),
            now=utcnow(),
            response_minutes=self._settings.response_minutes,
        )
        routing = self._routing([o.row for o in orders])
        prepared = [
            PreparedJob(job, o, job.render(o.receipt)) for job, o in zip(jobs, orders, strict=True)
        ]
        return PreparedBatch(prepared, routing)

    def _routing(self, rows: list[dict[str, Any]]) -> WriteRouting | None:
        """The batch's routing on receipt, if this process routes; never the intake's
        failure: unrouted orders go to the route queue."""
        if self.route is None:
            return None
        try:
            return self.route(rows)
        except Exception as exc:
            log.warning("routing on receipt not decided (%s); left to the route queue", exc)
            return None

    def write(self, conn: Connection, prepared: PreparedBatch) -> list[Outcome]:
        """Replays for known idempotency keys; the rest written with their key records."""
        batch = prepared.jobs
        outcomes: list[Outcome | None] = [None] * len(batch)
        first_in_batch: dict[tuple[int, str], int] = {}
        for index, item in enumerate(batch):
            key = item.job.key
            if key is None:
                continue
            stored = find_response(conn, *key)
            if stored is not None:
                outcomes[index] = _replayed(item.job, stored)
            elif key in first_in_batch:
                first = batch[first_in_batch[key]]
                copy = StoredResponse(first.job.request_hash or "", 201, first.body)
                outcomes[index] = _replayed(item.job, copy)
            else:
                first_in_batch[key] = index
        fresh = [i for i in range(len(batch)) if outcomes[i] is None]
        written = write_orders(conn, [batch[i].order for i in fresh], prepared.routing)
        records = []
        for index, result in zip(fresh, written, strict=True):
            item = batch[index]
            if isinstance(result, IntakeError):
                outcomes[index] = result
                continue
            outcomes[index] = Submitted(201, item.body, False)
            if item.job.key is not None:
                records.append((*item.job.key, item.job.request_hash or "", 201, item.body))
        save_responses(conn, records, batch[0].order.receipt.created_at)
        return [_decided(o) for o in outcomes]


def _decided(outcome: Outcome | None) -> Outcome:
    assert outcome is not None
    return outcome


def intake_committer(
    writer: SubmissionWriter, run: Runner
) -> GroupCommitter[SubmitJob, PreparedBatch, Outcome]:
    return GroupCommitter(writer.engine, writer.prepare, writer.write, run)


async def submit_job(
    committer: GroupCommitter[SubmitJob, PreparedBatch, Outcome], job: SubmitJob
) -> Submitted:
    """Queue the job, wait for its commit; a refused job raises its error."""
    outcome = await committer.submit(job)
    if isinstance(outcome, Submitted):
        return outcome
    raise outcome
