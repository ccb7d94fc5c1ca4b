"""Plane geometry for triage and 并单: point in polygon and great-circle distance.

Standard library only. Coordinates are WGS-84 degrees; rings are (longitude, latitude)
pairs as in GeoJSON, so a ring can be pasted from a GIS export. Villages are a few
kilometres wide, so treating lon/lat as plane coordinates inside a ring is accurate enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres

Point = tuple[float, float]  # (longitude, latitude)


def _on_segment(lon: float, lat: float, a: Point, b: Point) -> bool:
    """True when the point lies on segment a-b (within floating-point noise)."""
    (x1, y1), (x2, y2) = a, b
    cross = (x2 - x1) * (lat - y1) - (y2 - y1) * (lon - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= lon <= max(x1, x2) + 1e-12 and (
        min(y1, y2) - 1e-12 <= lat <= max(y1, y2) + 1e-12
    )


def in_ring(lon: float, lat: float, ring: Sequence[Point]) -> bool:
    """Ray casting; a point on the boundary counts as inside (a shared edge is in both).

    The ring may be open or closed (first point repeated at the end).
    """
    count = len(ring)
    if count < 3:
        return False
    inside = False
    for i in range(count):
        a = ring[i]
        b = ring[(i + 1) % count]
        if _on_segment(lon, lat, a, b):
            return True
        (x1, y1), (x2, y2) = a, b
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x_cross:
                inside = not inside
    return inside


def ring_area(ring: Sequence[Point]) -> float:
    """Unsigned shoelace area in square degrees; zero means a degenerate ring."""
    total = 0.0
    count = len(ring)
    for i in range(count):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % count]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
