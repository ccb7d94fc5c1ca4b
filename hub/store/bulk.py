"""Bulk inserts through the driver's executemany, converted as SQLAlchemy would convert them.

A full catalogue sync writes about ten rows per matter (current row, version, search row,
bigrams, fingerprint); SQLAlchemy's generic executemany spends more time preparing each
parameter set than SQLite spends storing it. Here each column's own bind processor (JSON,
aware UTC datetimes, booleans) is looked up once and applied to plain tuples, which the
driver takes in one call — in the caller's transaction, with bound parameters only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Table

Processor = Callable[[Any], Any] | None


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


def _statement(conn: Connection, table: Table, names: Sequence[str]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    columns = ", ".join(quote(name) for name in names)
    markers = ", ".join(marker for _ in names)
    return f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({markers})"  # noqa: S608


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    replace_on: Sequence[str] = (),
    same_json: dict[int, Any] | None = None,
) -> None:
    """Insert rows (all with the same keys, which must be columns of `table`).

    `replace_on`: the primary-key columns; a row whose key exists replaces its other
    columns (INSERT … ON CONFLICT … DO UPDATE, the same on SQLite and PostgreSQL).
    `same_json`: shared between calls that insert the very same JSON objects (a matter's
    data in its current row and in its version row), so each is encoded once.
    """
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    # Column by column: the values of a column with no conversion are never touched in
    # Python, and a converting column is one map() over its values.
    pick = itemgetter(*names)
    columns: list[Sequence[Any]] = (
        list(zip(*(pick(row) for row in rows), strict=True))
        if len(names) > 1
        else [[pick(row) for row in rows]]
    )
    shared: dict[type[Any], Callable[[Any], Any]] = {}  # valid_from = changed_at: once
    for index, name in enumerate(names):
        column_type = table.c[name].type
        process: Processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            continue
        if not isinstance(column_type, JSON):
            # e.g. every row's created_at is the same `now`, its valid_from its changed_at
            process = shared.setdefault(type(column_type), _remembered(process))
        elif same_json is not None:
            process = _by_identity(process, same_json)
        columns[index] = list(map(process, columns[index]))
    values = list(zip(*columns, strict=True))
    statement = _statement(conn, table, names)
    if replace_on:
        quote = conn.dialect.identifier_preparer.quote
        keys = ", ".join(quote(k) for k in replace_on)
        updates = ", ".join(
            f"{quote(n)} = excluded.{quote(n)}" for n in names if n not in replace_on
        )
        statement += f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(statement, values)
    finally:
        cursor.close()
