"""Runtime settings, read from the environment (never from YAML, so no secret lands in git)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _folder(name: str) -> Path:
    """./<name> when run from a checkout or deployment folder, else the repository's."""
    local = Path.cwd() / name
    return local if local.is_dir() else REPO_ROOT / name


def _default_policies() -> Path:
    return _folder("policies")


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path(os.environ.get("HUB_HOME", "var")).resolve())
    database_url: str = ""
    policies_dir: Path = field(default_factory=_default_policies)
    connectors_dir: Path = field(default_factory=lambda: _folder("connectors"))
    mappings_dir: Path = field(default_factory=lambda: _folder("mappings"))
    public_base_url: str = "http://127.0.0.1:8000"
    idempotency_ttl_hours: int = 24
    response_minutes: int = 30
    open311_max_results: int = 1000
    jurisdiction_id: str = "jingkai.gov.cn"
    # memory:// is kombu's in-process broker (embedded default); amqp://… is RabbitMQ.
    broker_url: str = "memory://"
    # Put in front of every exchange and queue name: several hubs can share a vhost.
    bus_prefix: str = ""
    # `jingkai serve` relays and consumes in each API process (the embedded default);
    # off when a separate `jingkai worker` runs, and off for plain library use.
    embedded_worker: bool = False
    # Seconds between the embedded route/dispatch sweeps (0 = off; Airflow sweeps too).
    sweep_seconds: float = 30.0
    # How long one worker holds an assignment while it calls the department system.
    dispatch_lease_seconds: float = 60.0

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("HUB_HOME", "var")).resolve()
        return cls(
            home=home,
            database_url=os.environ.get("HUB_DATABASE_URL") or f"sqlite:///{home / 'hub.db'}",
            policies_dir=Path(os.environ["HUB_POLICIES_DIR"])
            if os.environ.get("HUB_POLICIES_DIR")
            else _default_policies(),
            connectors_dir=Path(os.environ.get("HUB_CONNECTORS_DIR") or _folder("connectors")),
            mappings_dir=Path(os.environ.get("HUB_MAPPINGS_DIR") or _folder("mappings")),
            public_base_url=os.environ.get("HUB_PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
            idempotency_ttl_hours=int(os.environ.get("HUB_IDEMPOTENCY_TTL_HOURS", "24")),
            response_minutes=int(os.environ.get("HUB_RESPONSE_MINUTES", "30")),
            broker_url=os.environ.get("HUB_BROKER_URL") or "memory://",
            bus_prefix=os.environ.get("HUB_BUS_PREFIX", ""),
            embedded_worker=os.environ.get("HUB_EMBEDDED_WORKER", "1") == "1",
            sweep_seconds=float(os.environ.get("HUB_SWEEP_SECONDS", "30")),
            dispatch_lease_seconds=float(os.environ.get("HUB_DISPATCH_LEASE_SECONDS", "60")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
