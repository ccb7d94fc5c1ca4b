"""The FastAPI application: canonical API under /api/v1, Open311 under /open311/v2."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hub import __version__, heap
from hub.api import actions, callbacks, kpis, matters, observability, reference, work_orders
from hub.api.bodies import document_models
from hub.api.errors import install_error_handlers
from hub.api.limits import BodyLimitMiddleware
from hub.api.state import HubState
from hub.config import Settings, get_settings
from hub.model.masking import install_log_masking
from hub.services.catalogue import CatalogueCache
from hub.store.db import engine_for

DESCRIPTION = """
经开枢纽 (Jingkai Hub) canonical API for the portal, the app and the hotline software.

- 提交诉求、按编号和查询码查询、流程公开 — submit, track by number + query code, public timeline
- API keys in the `X-API-Key` header, scoped `portal`, `staff`, `admin` or `unit:<code>`
- Errors: `{"error": {"code", "message", "details"}}`
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    install_log_masking()
    engine = engine_for(settings.database_url)
    state = HubState(settings, engine, CatalogueCache(engine))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.embedded_worker:
            from hub.bus.runner import start_bus
            from hub.services.sweeper import Sweeper

            state.run_flow_here(start_bus(engine, settings, state.runtime().handlers()))
            if settings.sweep_seconds > 0:
                state.sweeper = Sweeper(state.runtime(), settings.sweep_seconds).start()
        heap.settle_loaded()
        yield
        state.close()

    app = FastAPI(
        title="经开枢纽 Jingkai Hub API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.hub = state
    install_error_handlers(app)
    app.include_router(work_orders.router)
    app.include_router(actions.router)
    app.include_router(callbacks.router)
    app.include_router(reference.router)
    app.include_router(matters.router)
    app.include_router(kpis.router)
    app.include_router(observability.router)
    try:
        from hub.api.open311 import router as open311_router
    except ImportError:  # pragma: no cover - the Open311 facade is optional while building
        pass
    else:
        app.include_router(open311_router)
    document_models(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(observability.MetricsMiddleware)
    return app
