"""The handlers `jingkai worker` and `jingkai serve` run, keyed by queue name."""

from __future__ import annotations

from sqlalchemy import Engine

from hub.bus.consumer import Handler
from hub.config import Settings


def default_handlers(engine: Engine, settings: Settings) -> dict[str, Handler]:
    """The work-order services register their handlers here (route, dispatch.*, …).

    Each handler must be idempotent: the bus delivers at least once and skips only the
    message ids it has recorded as processed.
    """
    from hub.services.runtime import FlowRuntime

    return FlowRuntime(settings, engine).handlers()
