"""Read connector configs and org units at DAG-parse time: files only, and fast.

The dag-processor parses the DAG files every 30 seconds; the hub's loaders parse each YAML
once with libyaml (about 1 ms a file), so 200 connector configs parse well inside 2 s and
every error is the one the CLI gives, with its file, line and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from hub.config import Settings
from hub.connectors import loader
from hub.connectors.models import ConnectorConfig
from hub.reference import OrgUnitsFile
from hub.yamlconf import ConfigError, load_model

_TARGET = re.compile(r"^target:\s*['\"]?([a-z_]+)", re.MULTILINE)


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    tier: str


@dataclass
class Units:
    """Org units by code, or the error that kept them from loading."""

    by_code: dict[str, Unit] = field(default_factory=dict)
    error: ConfigError | None = None

    @property
    def codes(self) -> Collection[str] | None:
        """Known codes for the loader's unit check; None (no check) if the file is broken."""
        return None if self.error else set(self.by_code)


def load_units(policies_dir: Path) -> Units:
    """policies/org_units.yaml through the reference model (no database)."""
    try:
        parsed, _ = load_model(policies_dir / "org_units.yaml", OrgUnitsFile)
    except ConfigError as exc:
        return Units(error=exc)
    return Units({u.code: Unit(u.code, u.name, u.tier.value) for u in parsed.units})


def load_connector_fast(path: Path, known_units: Collection[str] | None) -> ConnectorConfig:
    """The config, or the ConfigError the CLI would show (kept as the DAG factory's seam)."""
    return loader.load_connector(path, known_units)


@dataclass(frozen=True)
class Loaded:
    path: Path
    config: ConnectorConfig


@dataclass(frozen=True)
class Broken:
    path: Path
    error: ConfigError


def scan(
    settings: Settings, units: Units, wanted: Callable[[Path], bool] | None = None
) -> list[Loaded | Broken]:
    """Every `connectors/*.yaml` (or those `wanted`), each loaded or with its error."""
    found: list[Loaded | Broken] = []
    for path in sorted(settings.connectors_dir.glob("*.yaml")):
        if wanted is not None and not wanted(path):
            continue
        try:
            found.append(Loaded(path, load_connector_fast(path, units.codes)))
        except ConfigError as exc:
            found.append(Broken(path, exc))
        except Exception as exc:  # never let one file take the others down
            found.append(Broken(path, ConfigError(path, None, "", f"{type(exc).__name__}: {exc}")))
    return found


def mapping_target(mappings_dir: Path, name: str) -> str | None:
    """The `target:` of a mapping file, read without compiling the mapping (for tags)."""
    try:
        match = _TARGET.search((mappings_dir / f"{name}.yaml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    return match.group(1) if match else None
