"""Canonical model: pure pydantic, no I/O."""
