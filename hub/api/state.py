"""Per-app state and the API-key dependencies (scopes: portal, staff, admin, unit:<code>)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hub.api.errors import ApiError
from hub.api.intake_writer import (
    Outcome,
    PreparedBatch,
    SubmissionWriter,
    SubmitJob,
    intake_committer,
)
from hub.api.key_cache import KeyCache
from hub.api.throttle import FailureThrottle
from hub.bus.runner import BusRunner
from hub.config import Settings
from hub.services.actions import WorkflowContext
from hub.services.catalogue import CatalogueCache
from hub.services.group_commit import GroupCommitter
from hub.services.runtime import FlowRuntime
from hub.services.sweeper import Sweeper
from hub.store.api_keys import ApiKey
from hub.store.db import is_sqlite

T = TypeVar("T")

API_KEY_HEADER = "X-API-Key"
_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="作用域 API 密钥")


@dataclass
class HubState:
    settings: Settings
    engine: Engine
    catalogue: CatalogueCache
    inline_db: bool = field(init=False)
    writer: SubmissionWriter = field(init=False)
    intake: GroupCommitter[SubmitJob, PreparedBatch, Outcome] = field(init=False)
    keys: KeyCache = field(init=False)
    query_code_failures: FailureThrottle = field(default_factory=FailureThrottle)

    def __post_init__(self) -> None:
        self.inline_db = is_sqlite(self.engine)
        self.keys = KeyCache(self.engine)
        self.writer = SubmissionWriter(self.engine, self.catalogue, self.settings)
        self.intake = intake_committer(self.writer, self.run)

    flow: FlowRuntime | None = field(default=None, init=False)
    bus: BusRunner | None = field(default=None, init=False)
    sweeper: Sweeper | None = field(default=None, init=False)

    def runtime(self) -> FlowRuntime:
        """The work-order flow (policies, router, dispatcher), loaded on first use."""
        if self.flow is None:
            self.flow = FlowRuntime(self.settings, self.engine, catalogue=self.catalogue)
        return self.flow

    def run_flow_here(self, bus: BusRunner) -> None:
        """This process runs the flow on `bus` (the embedded worker): the intake routes
        its new orders in its own transaction (FlowRuntime.route_on_receipt)."""
        self.bus = bus
        self.writer.route = self.runtime().route_on_receipt

    def stop_flow(self) -> None:
        self.writer.route = None
        if self.bus is not None:
            self.bus.stop()
            self.bus = None

    def workflow_context(self) -> WorkflowContext:
        return self.runtime().context()

    def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.stop()
        self.stop_flow()
        if self.flow is not None:
            self.flow.close()
        self.intake.close()

    async def run(self, work: Callable[[], T]) -> T:
        """Run database work from async code.

        SQLite is in-process and single-writer: its sub-millisecond transactions run inline
        on the event loop, which beats a thread hop and keeps writers from contending.
        PostgreSQL work waits on the network, so it goes to the thread pool.
        """
        if self.inline_db:
            return work()
        return await run_in_threadpool(work)


async def hub_state(request: Request) -> HubState:
    state: HubState = request.app.state.hub
    return state


State = Annotated[HubState, Depends(hub_state)]


def lookup_key(state: HubState, clear: str | None) -> ApiKey | None:
    """None when no key was sent; 401 when one was sent and is unknown or revoked."""
    if not clear:
        return None
    key = state.keys.lookup(clear)
    if key is None:
        raise ApiError(401, "invalid_api_key", "API 密钥无效或已吊销 (invalid or revoked API key)")
    return key


async def authenticate(state: HubState, clear: str | None) -> ApiKey | None:
    """The key's record; goes to the database only when the cache has no fresh answer."""
    if not clear:
        return None
    if state.keys.cached(clear) is None:
        return await state.run(lambda: lookup_key(state, clear))
    return lookup_key(state, clear)


async def optional_key(
    state: State, clear: Annotated[str | None, Depends(_header)] = None
) -> ApiKey | None:
    return await authenticate(state, clear)


OptionalKey = Annotated[ApiKey | None, Depends(optional_key)]


def actor_of(key: ApiKey) -> str:
    """How a key appears in the audit trail."""
    return f"{key.scope}:{key.name}"


def require(key: ApiKey | None, *scopes: str, unit: bool = False) -> ApiKey:
    """401 without a key; 403 when the key's scope is not among those allowed."""
    if key is None:
        raise ApiError(401, "missing_api_key", f"缺少 {API_KEY_HEADER} 请求头 (API key required)")
    if key.scope in scopes or (unit and key.unit_code is not None):
        return key
    allowed = list(scopes) + (["unit:<code>"] if unit else [])
    raise ApiError(
        403,
        "forbidden_scope",
        f"此 API 密钥的权限范围 {key.scope!r} 不允许该操作 (scope not allowed)",
        {"allowed_scopes": allowed},
    )
