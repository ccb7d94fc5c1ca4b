"""The one runtime error of the mapping engine, so callers can dead-letter a record."""

from __future__ import annotations


class MappingError(ValueError):
    """A record could not be mapped; says which target field and why.

    ``field_path`` is the dotted target field (``requester.phone``), empty when the problem
    is the whole page or record. ``reason`` is Chinese with English in parentheses and never
    echoes the input value, which may be personal data.
    """

    def __init__(self, field_path: str, reason: str) -> None:
        self.field_path = field_path
        self.reason = reason
        super().__init__(f"{field_path}: {reason}" if field_path else reason)
