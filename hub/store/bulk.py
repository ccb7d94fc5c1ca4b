"""Bulk writes through the driver, converted as SQLAlchemy would convert them.

A full catalogue sync writes about ten rows per matter (current row, version, search row,
bigrams, fingerprint); SQLAlchemy's generic executemany spends more time preparing each
parameter set than SQLite spends storing it. Here each column's own bind processor (JSON,
aware UTC datetimes, booleans) is looked up once and applied to plain tuples, which the
driver takes in one call — in the caller's transaction, with bound parameters only.

On SQLite a batch can also go in as one statement (`one_statement`): one multi-row
INSERT … VALUES (…), (…) with every value bound. The driver then steps once for the whole
batch instead of once per row — and it releases the GIL while SQLite works, once, instead
of dropping and taking it back per row (which, beside a busy thread, waits for the switch
interval each time): a sync that stores one page in a writer thread maps the next page in
the meantime (hub.services.sync).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError

from hub.store.types import UtcDateTime


def _remembered(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A scalar processor that converts each distinct value once per batch."""
    done: dict[Any, Any] = {}

    def run(value: Any) -> Any:
        if value in done:
            return done[value]
        converted = done[value] = process(value)
        return converted

    return run


def _by_identity(process: Callable[[Any], Any], done: dict[int, Any]) -> Callable[[Any], Any]:
    """A JSON processor that encodes each object once; the caller keeps them alive."""

    def run(value: Any) -> Any:
        key = id(value)
        if key not in done:
            done[key] = process(value)
        return done[key]

    return run


def _sqlite_utc(value: datetime | None) -> str | None:
    """UtcDateTime on SQLite: the UTC wall time as SQLAlchemy's SQLite DATETIME stores it
    ('YYYY-MM-DD HH:MM:SS.ffffff'); a naive datetime is refused as UtcDateTime refuses it."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use aware datetimes")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _quote(conn: Connection) -> Callable[[str], str]:
    return conn.dialect.identifier_preparer.quote


def _marker(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


#: How a column's values are converted: stored UTC text (SQLite), JSON encoded once per
#: object, or the type's own bind processor remembered per distinct value.
_UTC, _JSON, _SCALAR = "utc", "json", "scalar"


@lru_cache(maxsize=512)
def _conversions(
    dialect: Dialect, table: Table, names: tuple[str, ...], encoded: frozenset[str]
) -> tuple[tuple[int, str, Any], ...]:
    """(position, how, the type's processor) of the columns whose values need converting:
    the same for every batch written to these columns, so worked out once (looking each
    type's processor up cost more than a small batch's conversions)."""
    found: list[tuple[int, str, Any]] = []
    for index, name in enumerate(names):
        if name in encoded:
            continue
        column_type = table.c[name].type
        if dialect.name == "sqlite" and isinstance(column_type, UtcDateTime):
            # What its processors give, several times faster (see _sqlite_utc).
            found.append((index, _UTC, None))
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            how = _JSON if isinstance(column_type, JSON) else _SCALAR
            found.append((index, how, (type(column_type), process)))
    return tuple(found)


def _processors(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    encoded: Collection[str],
    same_json: dict[int, Any] | None,
    same_times: dict[int, Any] | None = None,
) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, processor) of the columns whose values need converting, with this
    batch's memory: the same datetime object (every row's `now`, a version's valid_from =
    changed_at) or scalar value converted once.

    `encoded`: columns whose values are already what the driver takes (e.g. JSON text).
    """
    plan = _conversions(conn.dialect, table, tuple(names), frozenset(encoded))
    shared: dict[Any, Callable[[Any], Any]] = {}
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for index, how, typed in plan:
        process: Callable[[Any], Any]
        if how == _UTC:
            times = {} if same_times is None else same_times
            process = shared.setdefault(UtcDateTime, _by_identity(_sqlite_utc, times))
        elif how == _SCALAR:
            process = shared.setdefault(typed[0], _remembered(typed[1]))
        else:
            process = typed[1] if same_json is None else _by_identity(typed[1], same_json)
        found.append((index, process))
    return found


def _flat(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    encoded: Collection[str] = (),
    same_json: dict[int, Any] | None = None,
    same_times: dict[int, Any] | None = None,
) -> list[Any]:
    """Every row's values, converted, in one list (row after row)."""
    flat = list(chain.from_iterable(rows))
    width = len(names)
    if len(flat) != width * len(rows):
        raise ValueError(f"rows for {table.name} must each have {width} values")
    for index, process in _processors(conn, table, names, encoded, same_json, same_times):
        flat[index::width] = list(map(process, flat[index::width]))
    return flat


def _tuples(flat: list[Any], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*(iter(flat),) * width, strict=True))


#: SQLite's page cache for a connection that writes in bulk (KiB; SQLite's default: 2,000).
BULK_CACHE_KIB = 65_536
#: Its WAL is copied back into the database after this many pages (SQLite's default: 1,000,
#: which a batch of 1,000 matters passes every time): a page of the bigram B-tree written by
#: several batches in a row is copied once, not once per batch.
BULK_CHECKPOINT_PAGES = 16_384


def prepare_bulk(conn: Connection) -> None:
    """Ready this connection for bulk writes: on SQLite, a page cache that holds the
    B-trees a batch touches (the search bigrams, keyed by bigram, are touched all over)
    instead of reading the same pages from the file again and again, and checkpoints
    less often. Once per connection; both are per-connection settings, nothing else."""
    if conn.dialect.name != "sqlite":
        return
    info = conn.connection.info
    if info.get("hub_bulk") != (BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES):
        conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {BULK_CHECKPOINT_PAGES}")
        info["hub_bulk"] = (BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES)


def _variable_limit(conn: Connection) -> int:
    """How many parameters one SQLite statement may bind (999 before SQLite 3.32)."""
    raw = conn.connection.dbapi_connection
    getlimit = getattr(raw, "getlimit", None)
    if getlimit is None:  # pragma: no cover - Python < 3.11
        return 999
    return min(int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)), 32_766)


@contextmanager
def _cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """A driver cursor whose errors are raised as SQLAlchemy raises them (IntegrityError
    …), so callers see one kind of error whichever way a row was written or read — without
    the parameters in the message (they hold personal data)."""
    cursor = conn.connection.cursor()
    base = conn.dialect.loaded_dbapi.Error
    try:
        yield cursor
    except base as exc:
        raise DBAPIError.instance(
            statement, None, exc, base, hide_parameters=True, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()


def _execute(conn: Connection, statement: str, values: Sequence[Any], *, many: bool) -> int:
    """Run the statement; returns the rows it changed (summed over `many`)."""
    with _cursor(conn, statement) as cursor:
        if many:
            cursor.executemany(statement, values)
        else:
            cursor.execute(statement, values)
        return int(cursor.rowcount)


def insert_rows(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    replace_on: Sequence[str] = (),
    encoded: Collection[str] = (),
    same_json: dict[int, Any] | None = None,
    same_times: dict[int, Any] | None = None,
    one_statement: bool = False,
) -> None:
    """Insert rows given as tuples in the order of `names` (columns of `table`).

    `replace_on`: the primary-key columns; a row whose key exists replaces its other
    columns (INSERT … ON CONFLICT … DO UPDATE, the same on SQLite and PostgreSQL).
    `encoded`: columns given as the driver takes them (JSON already as text).
    `same_json`: shared between calls that insert the very same JSON objects (a matter's
    data in its current row and in its version row), so each is encoded once.
    `same_times`: the same for aware datetimes on SQLite (a matter's change time in its
    current row and in its version row: converted to stored text once).
    `one_statement`: on SQLite, one multi-row INSERT per as many rows as SQLite may bind
    parameters for (PostgreSQL: executemany, which psycopg pipelines).
    """
    if not rows:
        return
    flat = _flat(conn, table, names, rows, encoded, same_json, same_times)
    width = len(names)
    shape = (conn.dialect, table.name, tuple(names), tuple(replace_on))
    if one_statement and conn.dialect.name == "sqlite":
        per_statement = max(1, _variable_limit(conn) // width)
        for start in range(0, len(rows), per_statement):
            count = min(per_statement, len(rows) - start)
            chunk = flat[start * width : (start + count) * width]
            _execute(conn, _insert_statement(*shape, count), chunk, many=False)
        return
    _execute(conn, _insert_statement(*shape, 1), _tuples(flat, width), many=True)


@lru_cache(maxsize=1024)
def _insert_statement(
    dialect: Dialect, table: str, names: tuple[str, ...], replace_on: tuple[str, ...], rows: int
) -> str:
    """INSERT … VALUES with `rows` rows of markers (the text is the same for every batch of
    that size, and building it cost as much as converting a small batch)."""
    quote = dialect.identifier_preparer.quote
    column_list = ", ".join(quote(name) for name in names)
    conflict = ""
    if replace_on:
        keys = ", ".join(quote(k) for k in replace_on)
        updates = ", ".join(
            f"{quote(n)} = excluded.{quote(n)}" for n in names if n not in replace_on
        )
        conflict = f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    markers = ", ".join(_marker(dialect) for _ in names)
    tuples = ", ".join(f"({markers})" for _ in range(rows))
    return f"INSERT INTO {quote(table)} ({column_list}) VALUES {tuples}{conflict}"  # noqa: S608


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    replace_on: Sequence[str] = (),
    same_json: dict[int, Any] | None = None,
    one_statement: bool = False,
) -> None:
    """Insert rows given as mappings (all with the same keys, which must be columns of
    `table`); see insert_rows."""
    if not rows:
        return
    names = list(rows[0])
    pick = itemgetter(*names)
    tuples = [pick(row) for row in rows] if len(names) > 1 else [(pick(r),) for r in rows]
    insert_rows(
        conn,
        table,
        names,
        tuples,
        replace_on=replace_on,
        same_json=same_json,
        one_statement=one_statement,
    )


def update_rows(
    conn: Connection,
    table: Table,
    key: str | Sequence[str],
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    encoded: Collection[str] = (),
    same_times: dict[int, Any] | None = None,
) -> int:
    """UPDATE table SET names… WHERE key = … [AND …], one row tuple (values of `names`,
    then the key's) per row; converted like insert_rows. Returns the rows changed (a
    version guard in the key tells a row that moved on: it is not counted)."""
    if not rows:
        return 0
    keys = [key] if isinstance(key, str) else list(key)
    columns = [*names, *keys]
    flat = _flat(conn, table, columns, rows, encoded, same_times=same_times)
    values = _tuples(flat, len(columns))
    statement = _update_statement(conn.dialect, table.name, tuple(names), tuple(keys))
    return _execute(conn, statement, values, many=True)


@lru_cache(maxsize=256)
def _update_statement(
    dialect: Dialect, table: str, names: tuple[str, ...], keys: tuple[str, ...]
) -> str:
    quote, marker = dialect.identifier_preparer.quote, _marker(dialect)
    assignments = ", ".join(f"{quote(n)} = {marker}" for n in names)
    where = " AND ".join(f"{quote(k)} = {marker}" for k in keys)
    return f"UPDATE {quote(table)} SET {assignments} WHERE {where}"  # noqa: S608


def insert_spread(
    conn: Connection,
    table: Table,
    item: str,
    key: str,
    rows: Sequence[tuple[Any, str]],
) -> None:
    """Insert one (item, key) row per element of each key's JSON array of text items:
    `rows` are (key, '["a", "b", …]'). On SQLite the arrays are taken apart by json_each in
    one statement and the rows go in ordered by (item, key) — a B-tree keyed by item is then
    walked once, not touched all over; elsewhere they are expanded here."""
    if not rows:
        return
    quote = _quote(conn)
    if conn.dialect.name != "sqlite":
        spread = sorted((element, k) for k, items in rows for element in json.loads(items))
        insert_rows(conn, table, (item, key), spread)
        return
    per_statement = max(1, _variable_limit(conn) // 2)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join("(?, ?)" for _ in chunk)
        statement = (
            f"INSERT INTO {quote(table.name)} ({quote(item)}, {quote(key)})"  # noqa: S608
            f" SELECT j.value, r.column1 FROM (VALUES {values}) AS r, json_each(r.column2) AS j"
            " ORDER BY 1, 2"
        )
        _execute(conn, statement, [v for row in chunk for v in row], many=False)


def select_in(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    key: str,
    values: Sequence[Any],
    *,
    where: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """SELECT names… FROM table WHERE key IN values [AND column = value …], through the
    driver: as few statements as the database takes (SQLite: as many values as it may bind
    per statement; PostgreSQL: one, `= ANY`), and no statement for no values. `where`:
    columns that must equal a given value as well (bound like the rest). Rows come as the
    driver gives them (text and numbers as they are: pick columns that need no converting)."""
    if not values:
        return []
    fixed = dict(where or {})
    quote, marker = _quote(conn), _marker(conn.dialect)
    conditions = "".join(f"{quote(column)} = {marker} AND " for column in fixed)
    head = (
        f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table.name)}"  # noqa: S608
        f" WHERE {conditions}{quote(key)}"
    )
    bound = list(fixed.values())
    found: list[tuple[Any, ...]] = []
    with _cursor(conn, head) as cursor:
        if conn.dialect.name != "sqlite":
            cursor.execute(f"{head} = ANY(%s)", (*bound, list(values)))
            return [tuple(row) for row in cursor.fetchall()]
        per_statement = _variable_limit(conn) - len(bound)
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            cursor.execute(f"{head} IN ({', '.join('?' for _ in chunk)})", [*bound, *chunk])
            found += cursor.fetchall()
    return found
