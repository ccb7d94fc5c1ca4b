"""Shared pydantic base classes and time helpers for the canonical model."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

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


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(moment: datetime) -> datetime:
    """Show times in Asia/Shanghai, the zone citizens and staff live in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_ZONE)


__all__ = ["LOCAL_ZONE", "AwareDatetime", "Canonical", "Inbound", "to_local", "utcnow"]
