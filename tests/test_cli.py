"""The real `jingkai` console script in a subprocess, on SQLite (default) and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import drop_database, submission
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from hub.api.app import create_app
from hub.api.key_cache import KEY_CACHE_SECONDS
from hub.config import REPO_ROOT, Settings
from hub.reference import load_reference
from hub.store import api_keys
from hub.store.db import engine_for
from hub.store.migrate import head_revision, upgrade
from hub.store.reference import load_reference_data

JINGKAI = Path(sys.executable).parent / "jingkai"
POLICIES = REPO_ROOT / "policies"
COUNT_LINE = re.compile(r"^\s+(\w+)\s+inserted=(\d+) updated=(\d+) unchanged=(\d+)\s*$")
KEY = re.compile(r"^jk_[A-Za-z0-9_-]{40,}$")


@dataclass
class Cli:
    home: Path
    cwd: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(JINGKAI), *args],
            env={**self.env, **(extra_env or {})},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result

    def settings(self) -> Settings:
        return Settings(home=self.home, database_url=self.database_url, policies_dir=POLICIES)


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_HOME"] = str(home)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(params=["sqlite", "postgres"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"  # no policies/ here: the packaged default is used
    cwd.mkdir()
    env = base_env(home)
    if request.param == "sqlite":
        # HUB_DATABASE_URL unset: the default is a SQLite file under HUB_HOME.
        url = f"sqlite:///{home / 'hub.db'}"
        yield Cli(home, cwd, url, env)
        engine_for(url).dispose()
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    name = f"jk_cli_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # The production form of the URL (plain postgresql://): the hub picks the driver itself.
    url = (
        make_url(admin_url)
        .set(drivername="postgresql", database=name)
        .render_as_string(hide_password=False)
    )
    env["HUB_DATABASE_URL"] = url
    yield Cli(home, cwd, url, env)
    engine_for(url).dispose()
    drop_database(admin, name)
    admin.dispose()


def count_lines(output: str) -> dict[str, tuple[int, int, int]]:
    found = {}
    for line in output.splitlines():
        match = COUNT_LINE.match(line)
        if match:
            found[match.group(1)] = (int(match.group(2)), int(match.group(3)), int(match.group(4)))
    return found


def created_key(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.rstrip("\n").splitlines()
    key = lines[-1]
    assert KEY.match(key), result.stdout
    assert all(key not in line for line in lines[:-1])
    assert key not in result.stderr
    return key


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """The database as `jingkai init` leaves it (done in-process: `init` has its own tests)."""
    engine = engine_for(cli.database_url)
    upgrade(engine)
    with engine.begin() as conn:
        load_reference_data(conn, load_reference(POLICIES))
    return cli


# --- init ---------------------------------------------------------------------------------


def test_init_twice(cli: Cli) -> None:
    first = cli.ok("init")
    counts = count_lines(first.stdout)
    assert set(counts) == {"org_units", "portal_sections", "categories", "hotlines"}
    assert counts["portal_sections"] == (12, 0, 0)
    assert counts["hotlines"] == (26, 0, 0)
    assert all(inserted > 0 and updated == 0 for inserted, updated, _ in counts.values())
    assert f"schema revision: {head_revision()}" in first.stdout
    if cli.database_url.startswith("sqlite"):
        assert (cli.home / "hub.db").is_file()
        assert "sqlite:///" + str(cli.home / "hub.db") in first.stdout
    else:
        password = make_url(cli.database_url).password
        assert password and f":{password}@" not in first.stdout  # the URL is shown masked

    second = cli.ok("init")
    again = count_lines(second.stdout)
    assert set(again) == set(counts)
    for table, (inserted, updated, unchanged) in again.items():
        assert (inserted, updated) == (0, 0), table
        assert unchanged == counts[table][0], table
    assert f"schema revision: {head_revision()}" in second.stdout


def test_init_with_broken_policies_exits_2_with_file_line_field(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(POLICIES, broken)
    path = broken / "org_units.yaml"
    source = path.read_text(encoding="utf-8")
    start = source.index("- code: JKQ-JXKH")
    index = source.index("tier: department", start)
    path.write_text(source[:index] + "tier: ministry" + source[index + 16 :], encoding="utf-8")
    line = source.count("\n", 0, index) + 1

    result = cli.run("init", extra_env={"HUB_POLICIES_DIR": str(broken)})
    assert result.returncode == 2, result.stderr
    assert f"{path}:{line}: units[3].tier: " in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was created: the config is checked before the database is touched.
    if cli.database_url.startswith("sqlite"):
        assert not (cli.home / "hub.db").exists()
    else:
        assert inspect(engine_for(cli.database_url)).get_table_names() == []

    # After a good init, a broken config leaves the loaded data alone.
    counts = count_lines(cli.ok("init").stdout)
    assert counts and all(i > 0 for i, _, _ in counts.values())
    result = cli.run("init", extra_env={"HUB_POLICIES_DIR": str(broken)})
    assert result.returncode == 2
    engine = engine_for(cli.database_url)
    with engine.connect() as conn:
        for table, (inserted, _, _) in counts.items():
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == inserted


def test_init_with_missing_policies_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(POLICIES, broken)
    (broken / "categories.yaml").unlink()
    result = cli.run("init", extra_env={"HUB_POLICIES_DIR": str(broken)})
    assert result.returncode == 2
    assert str(broken / "categories.yaml") in result.stderr
    assert "Traceback" not in result.stderr


# --- keys ---------------------------------------------------------------------------------


def test_created_key_works_against_the_api(ready: Cli) -> None:
    key = created_key(ready.ok("keys", "create", "--scope", "portal", "--name", "app"))
    with TestClient(create_app(ready.settings())) as api:
        created = api.post("/api/v1/work-orders", json=submission(), headers={"X-API-Key": key})
        assert created.status_code == 201, created.text
        assert created.json()["wo_no"].startswith("JK")
        # portal scope may submit but not list
        listed = api.get("/api/v1/work-orders", headers={"X-API-Key": key})
        assert listed.status_code == 403
        assert api.post("/api/v1/work-orders", json=submission()).status_code == 401
        wrong = api.post(
            "/api/v1/work-orders", json=submission(), headers={"X-API-Key": key[:-1] + "?"}
        )
        assert wrong.status_code == 401


def test_keys_list_never_prints_a_clear_key(ready: Cli) -> None:
    portal = created_key(ready.ok("keys", "create", "--scope", "portal", "--name", "app"))
    unit = created_key(ready.ok("keys", "create", "--scope", "unit:JKQ-HBJ", "--name", "env"))
    with engine_for(ready.database_url).begin() as conn:
        staff = api_keys.create_key(conn, "desk", "staff")[1]
    listed = ready.ok("keys", "list")
    output = listed.stdout + listed.stderr
    lines = [line for line in listed.stdout.splitlines() if line.strip()]
    assert len(lines) == 3
    for name, scope in [("app", "portal"), ("desk", "staff"), ("env", "unit:JKQ-HBJ")]:
        assert any(name in line and scope in line and "active" in line for line in lines)
    for key in (portal, staff, unit):
        assert key not in output
        assert key[:16] not in output  # at most a short prefix identifies the key


def test_revoke_makes_the_key_401(ready: Cli) -> None:
    key = created_key(ready.ok("keys", "create", "--scope", "staff", "--name", "app"))
    with engine_for(ready.database_url).begin() as conn:
        other = api_keys.create_key(conn, "other", "staff")[1]
    with TestClient(create_app(ready.settings())) as api:
        assert api.get("/api/v1/work-orders", headers={"X-API-Key": key}).status_code == 200
        revoked = ready.ok("keys", "revoke", "--name", "app")
        assert "revoked: 1" in revoked.stdout
        # A running API caches valid keys briefly; the revocation must reach it within that.
        deadline = time.monotonic() + KEY_CACHE_SECONDS + 5
        while True:
            response = api.get("/api/v1/work-orders", headers={"X-API-Key": key})
            if response.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert api.get("/api/v1/work-orders", headers={"X-API-Key": other}).status_code == 200
    # A process started after the revocation refuses the key at once.
    with TestClient(create_app(ready.settings())) as fresh:
        response = fresh.get("/api/v1/work-orders", headers={"X-API-Key": key})
        assert response.status_code == 401
        assert fresh.get("/api/v1/work-orders", headers={"X-API-Key": other}).status_code == 200
    listed = ready.ok("keys", "list").stdout
    assert re.search(r"\brevoked\b.*\bapp\b", listed)
    assert re.search(r"\bactive\b.*\bother\b", listed)
    again = ready.run("keys", "revoke", "--name", "app")
    assert again.returncode != 0
    assert "revoked: 0" in again.stdout


def test_invalid_scope_exits_non_zero_with_a_message(ready: Cli) -> None:
    for scope in ["root", "unit:jkq-hbj", "staff,admin"]:
        result = ready.run("keys", "create", "--scope", scope, "--name", "bad")
        assert result.returncode != 0, scope
        assert "scope" in result.stderr and repr(scope) in result.stderr
        assert not any(KEY.match(line) for line in result.stdout.splitlines())
        assert "Traceback" not in result.stderr
    with engine_for(ready.database_url).connect() as conn:
        assert api_keys.list_keys(conn) == []


def test_keys_create_requires_scope(tmp_path: Path) -> None:
    result = Cli(tmp_path, tmp_path, "", base_env(tmp_path)).run("keys", "create", "--name", "x")
    assert result.returncode == 2
    assert "--scope" in result.stderr


def test_demo_keys_are_made_once_and_replaced_when_revoked(ready: Cli) -> None:
    first = ready.ok("demo-keys").stdout
    keys = dict(re.findall(r"(JK_\w+_KEY)=(jk_\S+)", first))
    assert set(keys) == {"JK_PORTAL_KEY", "JK_STAFF_KEY", "JK_ADMIN_KEY"}
    env_file = ready.home / "demo-keys.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = dict(re.findall(r"(JK_\w+_KEY)=(jk_\S+)", ready.ok("demo-keys").stdout))
    assert again == keys  # a second `make run` shows the same keys
    ready.ok("keys", "revoke", "--name", "demo-staff")
    renewed = dict(re.findall(r"(JK_\w+_KEY)=(jk_\S+)", ready.ok("demo-keys").stdout))
    assert renewed["JK_PORTAL_KEY"] == keys["JK_PORTAL_KEY"]
    assert renewed["JK_STAFF_KEY"] != keys["JK_STAFF_KEY"]
    with TestClient(create_app(ready.settings())) as client:
        response = client.get("/api/v1/work-orders", headers={"X-API-Key": renewed["JK_STAFF_KEY"]})
        assert response.status_code == 200
        old = client.get("/api/v1/work-orders", headers={"X-API-Key": keys["JK_STAFF_KEY"]})
        assert old.status_code == 401
