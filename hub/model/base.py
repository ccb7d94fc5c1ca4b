"""Shared pydantic base classes and time helpers for the canonical model."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


class Canonical(BaseModel):
    """Canonical records: strict about unknown fields so typos in mappings surface."""

    # hide_input_in_errors: a validation error must never echo a phone or ID number back.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class Inbound(Canonical):
    """Bodies sent by clients; frozen once validated so they can be hashed and reused."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
        validate_default=True,
        hide_input_in_errors=True,
    )


def matching(pattern: str, message: str) -> AfterValidator:
    """A validator for code-like strings: the pattern or a message saying what is expected."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(moment: datetime) -> datetime:
    """Show times in Asia/Shanghai, the zone citizens and staff live in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_ZONE)


__all__ = [
    "LOCAL_ZONE",
    "AwareDatetime",
    "Canonical",
    "Inbound",
    "matching",
    "to_local",
    "utcnow",
]
