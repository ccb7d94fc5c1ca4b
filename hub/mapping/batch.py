"""Map many records, keeping every failure with its original payload for a dead letter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hub.mapping.engine import Mapping, serialise_record
from hub.mapping.errors import MappingError

__all__ = ["Failure", "map_records"]


@dataclass(frozen=True)
class Failure:
    """What hub.store.dead_letters.add_dead_letter needs: payload, format, field, reason."""

    payload: str
    payload_format: str
    field_path: str
    reason: str


def map_records(mapping: Mapping, records: Iterable[Any]) -> tuple[list[BaseModel], list[Failure]]:
    """Validated canonical records, and a Failure for each record that did not map."""
    mapped: list[BaseModel] = []
    failures: list[Failure] = []
    payload_format = "xml" if mapping.source == "xml" else "json"
    for record in records:
        try:
            mapped.append(mapping.to_canonical(record))
        except MappingError as exc:
            failures.append(
                Failure(serialise_record(record), payload_format, exc.field_path, exc.reason)
            )
    return mapped, failures
