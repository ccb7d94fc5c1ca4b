"""One SQLite file per simulated system, shared safely by the server's worker threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

#: Department systems in the district keep local time (Asia/Shanghai, no DST).
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def now_local() -> datetime:
    """The current wall-clock time in China, to the second, as department systems store it."""
    return datetime.now(CHINA).replace(microsecond=0, tzinfo=None)


def format_time(moment: datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS', the format Chinese OA and exchange tables use."""
    return moment.strftime(TIME_FORMAT)


class Store:
    """A SQLite database behind one lock: simple, and plenty for a sandbox.

    WAL mode and a busy timeout let an outside reader or writer (the hub's SQL adapter on
    the Tongda file) share the database with the control server.
    """

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=10
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a query and return plain dicts (JSON- and XML-friendly)."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params)]

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Plain tuples in the query's column order (for large pages: no dict per row)."""
        with self._lock:
            return [tuple(row) for row in self._conn.execute(sql, params)]

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            first = self._conn.execute(sql, params).fetchone()
        return first[0] if first else None

    def clear(self, tables: Sequence[str]) -> None:
        """Empty the given tables (the reset endpoint); names come from code, never input."""
        with self.transaction() as conn:
            for table in tables:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self._lock:
            self._conn.close()
