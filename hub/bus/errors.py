"""How the bus describes an exception in a log line.

Log records are masked (phones, ID numbers, e-mails), but tracebacks are not, and a
database error's text carries the statement's parameters — a work order's payload. So the
bus logs no tracebacks, and names only the type of a database error.
"""

from __future__ import annotations

from sqlalchemy.exc import StatementError


def describe(exc: BaseException) -> str:
    if isinstance(exc, StatementError):
        return f"{type(exc).__name__} ({type(exc.orig).__name__})"
    return f"{type(exc).__name__}: {exc}"
