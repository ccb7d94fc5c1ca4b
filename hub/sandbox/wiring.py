"""How the hub reaches the sandbox: its secrets, and connector files moved to its ports.

The tests, the benchmarks and the crash test all point the shipped connector configs at a
sandbox running on free ports, with the secrets `connectors/README.md` documents; this is
the one place that knows how (`scripts/run.sh` exports the same values for `make run`).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

from hub.config import REPO_ROOT
from hub.sandbox.runner import DEFAULT_PORTS

#: The AIRFLOW_CONN_* values the shipped configs document for the sandbox. Only the login
#: and password are read for HTTP and SOAP systems, so the ports here need not match.
SANDBOX_SECRETS = {
    "AIRFLOW_CONN_WEAVER_ENV": "soap://hub:weaver-sandbox@127.0.0.1:8101",
    "AIRFLOW_CONN_SEEYON_URBAN": "http://hub:seeyon-sandbox@127.0.0.1:8102",
    "AIRFLOW_CONN_SEEYON_URBAN_CALLBACK": "http://:seeyon-callback-secret@",
    "AIRFLOW_CONN_HEBEI_NETWORK": "soap://exchange_user:hebei-sandbox@127.0.0.1:8104",
    "AIRFLOW_CONN_HOTLINE_CENTRE": "http://:hotline-sandbox-key@127.0.0.1:8105",
}


def tongda_secret(database: Path) -> str:
    """Airflow URI of the Tongda sandbox's database (the path percent-encoded, absolute)."""
    return "sqlite:///" + quote(str(database), safe="")


def sandbox_secrets(tongda_database: Path | None = None) -> dict[str, str]:
    """Every sandbox secret, Tongda's included when its database is known."""
    secrets = dict(SANDBOX_SECRETS)
    if tongda_database is not None:
        secrets["AIRFLOW_CONN_TONGDA_HOUSING"] = tongda_secret(tongda_database)
    return secrets


def rebase_connectors(
    urls: Mapping[str, str],
    target: Path,
    *,
    edit: Callable[[str], str] | None = None,
    source: Path = REPO_ROOT / "connectors",
) -> Path:
    """The shipped connector files with each running system's default URL replaced.

    `urls` maps sandbox system names to where they run; `edit` may change each file's text
    further (a benchmark lifting rate limits, say).
    """
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.yaml"):
        text = path.read_text("utf-8")
        for system, port in DEFAULT_PORTS.items():
            if system in urls:
                text = text.replace(f"http://127.0.0.1:{port}", urls[system])
        (target / path.name).write_text(edit(text) if edit else text, "utf-8")
    return target


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for a server started next)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different such ports: each probe stays bound until all are chosen (one at
    a time, the system may hand out the same port twice)."""
    with ExitStack() as probes:
        ports = []
        for _ in range(count):
            sock = probes.enter_context(socket.socket())
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
