"""Open311 GeoReport v2 facade (/open311/v2): the catalogue as services, orders as requests."""

from hub.api.open311.routes import router

__all__ = ["router"]
