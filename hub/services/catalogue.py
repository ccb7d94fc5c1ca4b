"""Reference data read from the store, cached briefly: it changes only with `jingkai init`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from hub.model.org_unit import Category, Hotline, OrgUnit, PortalSection
from hub.store.schema import categories, hotlines, org_units, portal_sections

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Catalogue:
    units: dict[str, OrgUnit]
    sections: dict[str, PortalSection]
    categories: dict[str, Category]
    hotlines: dict[str, Hotline] = field(default_factory=dict)


def read_catalogue(engine: Engine) -> Catalogue:
    with engine.connect() as conn:
        units = [
            OrgUnit.model_validate(dict(r)) for r in conn.execute(select(org_units)).mappings()
        ]
        sections = [
            PortalSection.model_validate(dict(r))
            for r in conn.execute(
                select(portal_sections).order_by(portal_sections.c.order)
            ).mappings()
        ]
        cats = [
            Category.model_validate(dict(r))
            for r in conn.execute(select(categories).order_by(categories.c.code)).mappings()
        ]
        lines = [Hotline.model_validate(dict(r)) for r in conn.execute(select(hotlines)).mappings()]
    return Catalogue(
        {u.code: u for u in units},
        {s.code: s for s in sections},
        {c.code: c for c in cats},
        {h.number: h for h in lines},
    )


class CatalogueCache:
    """Per-process cache so intake does not read reference tables on every request."""

    def __init__(self, engine: Engine, ttl: float = CACHE_SECONDS) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: Catalogue | None = None
        self._loaded_at = 0.0

    def get(self) -> Catalogue:
        now = time.monotonic()
        if self._value is None or now - self._loaded_at > self._ttl:
            with self._lock:
                if self._value is None or now - self._loaded_at > self._ttl:
                    self._value = read_catalogue(self._engine)
                    self._loaded_at = now
        return self._value

    def invalidate(self) -> None:
        self._value = None
