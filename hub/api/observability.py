"""Health and Prometheus metrics; the middleware is plain ASGI to stay off the hot path."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.state import State
from hub.store.migrate import current_revision

REQUESTS = Counter(
    "hub_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "hub_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RECEIVED = Counter("hub_work_orders_received_total", "Work orders received", ["channel"])

router = APIRouter(tags=["ops 运维"])


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], path, str(status)).inc()
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)


@router.get("/healthz", summary="健康检查 Health")
def healthz(state: State) -> Any:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(state.engine)
    except Exception as exc:  # the point is to report any failure, not to raise it
        return JSONResponse(
            status_code=503,
            content={"status": "error", "database": type(exc).__name__},
        )
    ok = revision is not None
    return JSONResponse(
        status_code=200 if ok else 503,
        content={
            "status": "ok" if ok else "not_initialised",
            "database": state.engine.dialect.name,
            "schema_revision": revision,
        },
    )


@router.get("/metrics", summary="Prometheus 指标")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
