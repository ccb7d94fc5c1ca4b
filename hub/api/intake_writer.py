"""Intake through group commit: checked submissions from all requests, written in batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from hub.api.errors import ApiError
from hub.api.idempotent import replay
from hub.config import Settings
from hub.model.base import utcnow
from hub.services.catalogue import CatalogueCache
from hub.services.group_commit import GroupCommitter, Runner
from hub.services.intake import IntakeError, NewOrder, Receipt, receive_many
from hub.store.idempotency import StoredResponse, find_response, save_responses


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


def write_submissions(
    conn: Connection, jobs: list[SubmitJob], *, catalogue: CatalogueCache, settings: Settings
) -> list[Outcome]:
    """One transaction for the batch: idempotency look-ups, the orders, the key records."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    first_in_batch: dict[tuple[int, str], int] = {}
    for index, job in enumerate(jobs):
        if job.key is None:
            continue
        stored = find_response(conn, *job.key)
        if stored is not None:
            outcomes[index] = _replayed(job, stored)
        elif job.key in first_in_batch:
            outcomes[index] = None  # settled after the first copy below
        else:
            first_in_batch[job.key] = index
    fresh = [
        i
        for i, job in enumerate(jobs)
        if outcomes[i] is None and (job.key is None or first_in_batch.get(job.key) == i)
    ]
    now = utcnow()
    receipts = receive_many(
        conn,
        [jobs[i].order for i in fresh],
        catalogue=catalogue.get(),
        now=now,
        response_minutes=settings.response_minutes,
    )
    records = []
    for index, result in zip(fresh, receipts, strict=True):
        job = jobs[index]
        if isinstance(result, IntakeError):
            outcomes[index] = result
            continue
        body = job.render(result)
        outcomes[index] = Submitted(201, body, False)
        if job.key is not None:
            records.append((*job.key, job.request_hash or "", 201, body))
    save_responses(conn, records, now)
    for index, job in enumerate(jobs):
        if outcomes[index] is None and job.key is not None:
            first = outcomes[first_in_batch[job.key]]
            first_job = jobs[first_in_batch[job.key]]
            if isinstance(first, Submitted):
                copy = StoredResponse(first_job.request_hash or "", first.status, first.body)
                outcomes[index] = _replayed(job, copy)
            else:
                outcomes[index] = first
    return [o for o in outcomes if o is not None]


def intake_committer(
    engine: Engine, catalogue: CatalogueCache, settings: Settings, run: Runner
) -> GroupCommitter[SubmitJob, Outcome]:
    return GroupCommitter(
        engine, partial(write_submissions, catalogue=catalogue, settings=settings), run
    )


async def submit_job(committer: GroupCommitter[SubmitJob, Outcome], job: SubmitJob) -> Submitted:
    """Queue the job, wait for its commit; a refused job raises its error."""
    outcome = await committer.submit(job)
    if isinstance(outcome, Submitted):
        return outcome
    raise outcome
