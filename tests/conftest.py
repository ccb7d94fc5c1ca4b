"""Shared fixtures: a real database per test (SQLite file, and PostgreSQL when configured).

PostgreSQL runs wherever HUB_TEST_POSTGRES_URL is set (CI sets it through .ci/run); in CI a
missing PostgreSQL is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from hub.api.app import create_app
from hub.config import REPO_ROOT, Settings
from hub.reference import load_reference
from hub.store import api_keys
from hub.store.db import engine_for
from hub.store.migrate import upgrade
from hub.store.reference import load_reference_data

POLICIES = REPO_ROOT / "policies"
BACKENDS = ["sqlite", "postgres"]


def prepare(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        load_reference_data(conn, load_reference(POLICIES))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hub.db"
    url = f"sqlite:///{path}"
    prepare(engine_for(url))
    engine_for(url).dispose()
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("HUB_TEST_POSTGRES_URL is not set in CI: .ci/run must start PostgreSQL")
        pytest.skip("HUB_TEST_POSTGRES_URL not set (run scripts/ci-postgres.sh)")
    return url


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def drop_database(admin: Engine, name: str) -> None:
    """DROP … WITH (FORCE) can lose a race with an autovacuum worker: try a few times."""
    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError:
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    name = f"jk_template_{uuid.uuid4().hex[:8]}"
    admin = _admin(postgres_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    prepare(engine_for(url))
    engine_for(url).dispose()
    yield name
    drop_database(admin, name)
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database with the reference data, fresh for each test."""
    if request.param == "sqlite":
        target = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite:///{target}"
        yield url
        engine_for(url).dispose()
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("postgres_template")
    name = f"jk_test_{uuid.uuid4().hex[:10]}"
    admin = _admin(admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    engine_for(url).dispose()
    drop_database(admin, name)
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Engine:
    return engine_for(database_url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=database_url, policies_dir=POLICIES)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Keys:
    portal: str
    staff: str
    admin: str
    env_unit: str
    urban_unit: str
    revoked: str

    def h(self, key: str) -> dict[str, str]:
        return {"X-API-Key": key}


@pytest.fixture
def keys(engine: Engine) -> Keys:
    with engine.begin() as conn:
        made = {
            name: api_keys.create_key(conn, name, scope)[1]
            for name, scope in [
                ("portal", "portal"),
                ("staff", "staff"),
                ("admin", "admin"),
                ("env_unit", "unit:JKQ-HBJ"),
                ("urban_unit", "unit:JKQ-CGJ"),
                ("revoked", "staff"),
            ]
        }
        api_keys.revoke_key(conn, name="revoked")
    return Keys(**made)


def submission(**overrides: object) -> dict[str, object]:
    """A valid body for POST /api/v1/work-orders (scenario 2's noise complaint)."""
    body: dict[str, object] = {
        "channel": "app",
        "appeal_type": "complaint",
        "category_code": "ENV-NOISE",
        "title": "夜间施工噪音扰民",
        "content": "经开区某路口工地夜间施工，噪声很大。联系人张三，电话13812341234。",
        "urgency": "normal",
        "location": {"address": "经开区某路与某街交叉口", "region_code": "130199001"},
        "requester": {
            "name": "张三",
            "phone": "13812341234",
            "id_number": "130102199003071233",
        },
    }
    body.update(overrides)
    return body


# Message bus: kombu's in-process memory transport, and RabbitMQ wherever HUB_TEST_AMQP_URL is
# set (CI sets it through .ci/run; there a missing RabbitMQ fails, never skips).
BROKERS = ["memory", "rabbitmq"]


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = os.environ.get("HUB_TEST_AMQP_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("HUB_TEST_AMQP_URL is not set in CI: .ci/run must start RabbitMQ")
        pytest.skip("HUB_TEST_AMQP_URL not set (run scripts/ci-rabbitmq.sh)")
    return url


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """A broker URL; tests keep apart by a name prefix (the memory broker is process-wide)."""
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("amqp_url"))
