"""The shared shape of every simulated system: app, storage, faults, control API.

Subclasses add their real protocol (``add_routes``) and any extra control endpoints
(``add_control_routes``); the control API always lives under ``/_sandbox/`` and is never
subject to injected faults, so a test can always repair what it broke.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.sandbox.faults import BodyFormat, FaultPlan, FaultState, corrupt_body
from hub.sandbox.storage import Store

CONTROL_PREFIX = "/_sandbox"


def json_response(body: Any, status: int = 200, charset: str = "utf-8") -> Response:
    """JSON with Chinese left readable, encoded in the charset the system is set to speak."""
    data = json.dumps(body, ensure_ascii=False).encode(charset)
    return Response(data, status, media_type=f"application/json; charset={charset.upper()}")


class SandboxSystem:
    """A department system with its own SQLite file and a FastAPI app serving it."""

    name: ClassVar[str]
    title: ClassVar[str]
    #: The path a client starts from, shown by `jingkai sandbox`.
    entry: ClassVar[str] = "/_sandbox/health"
    body_format: ClassVar[BodyFormat] = "json"
    schema: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.store = Store(data_dir / f"{self.name}.db", self.schema)
        self.faults = FaultState()
        self.base_url = ""
        self.app = FastAPI(title=f"{self.title} (sandbox)", docs_url=None, redoc_url=None)
        self.app.add_middleware(_Misbehave, system=self)
        self.app.add_exception_handler(HTTPException, self._http_error)  # type: ignore[arg-type]
        control = APIRouter(prefix=CONTROL_PREFIX, tags=["sandbox control"])
        control.add_api_route("/health", self.health, methods=["GET"])
        control.add_api_route("/reset", self.reset_endpoint, methods=["POST"])
        control.add_api_route("/faults", self.get_faults, methods=["GET"])
        control.add_api_route("/faults", self.set_faults, methods=["POST"])
        control.add_api_route("/faults", self.clear_faults, methods=["DELETE"])
        self.add_control_routes(control)
        self.app.include_router(control)
        self.add_routes(self.app)

    # --- hooks for subclasses -----------------------------------------------------------

    def add_routes(self, app: FastAPI) -> None:
        """Register the system's real API."""

    def add_control_routes(self, router: APIRouter) -> None:
        """Register extra ``/_sandbox/`` endpoints (department actions, seeding …)."""

    def error_response(self, status: int, message: str) -> Response:
        """How this system reports a server-side failure."""
        return json_response({"code": status, "message": message}, status)

    def on_reset(self) -> None:
        """Restore seeded data or settings after the tables were emptied."""

    # --- control API ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return {"system": self.name, "title": self.title, "database": str(self.store.path)}

    def reset(self) -> None:
        """Empty every table and forget faults: a clean department system."""
        self.store.clear(self.tables)
        self.faults.clear()
        self.on_reset()

    def reset_endpoint(self) -> dict[str, str]:
        self.reset()
        return {"status": "reset", "message": "已重置 (reset)"}

    def get_faults(self) -> dict[str, Any]:
        return {"plan": self.faults.plan.model_dump(), "calls": self.faults.calls}

    def set_faults(self, plan: FaultPlan) -> dict[str, Any]:
        self.faults.set(plan)
        return self.get_faults()

    def clear_faults(self) -> dict[str, Any]:
        self.faults.clear()
        return self.get_faults()

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        """Errors in the system's own format; the control API always answers in JSON."""
        if request.url.path.startswith(CONTROL_PREFIX):
            return json_response({"code": exc.status_code, "message": exc.detail}, exc.status_code)
        return self.error_response(exc.status_code, str(exc.detail))


class _Misbehave:
    """The middleware that misbehaves, as plain ASGI (the sandbox shares the hub's cores in
    benchmarks, so it should cost little): latency, failures, corrupt bodies, and answers
    held back after the work is committed. The control API is never touched."""

    def __init__(self, app: ASGIApp, system: SandboxSystem) -> None:
        self.app = app
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        system = self.system
        decision = system.faults.decide(path)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.fail_status:
            failure = system.error_response(decision.fail_status, "模拟故障 (injected failure)")
            await failure(scope, receive, send)
            return
        if decision.corrupt:
            body, media_type = corrupt_body(
                decision.corrupt, system.body_format, system.faults.plan.oversize_bytes
            )
            await Response(body, 200, headers={"content-type": media_type})(scope, receive, send)
            return
        if not decision.sleep_after:
            await self.app(scope, receive, send)
            return
        # The work is committed; the answer is held back, so the client gives up waiting
        # and may retry.
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await asyncio.sleep(decision.sleep_after)
        for message in held:
            await send(message)
