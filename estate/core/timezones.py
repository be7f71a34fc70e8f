"""The viewer's time zone: their browser's, which static/js/timezone.js keeps in a cookie.

No person or team stores a zone, so the browser is the one source. Pages render times in it once the
cookie is there; before that (a first visit) they render UTC, labelled, and the script re-renders them.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, available_timezones

VIEWER_ZONE_COOKIE = "estate_tz"
UTC_ZONE = ZoneInfo("UTC")


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def viewer_zone_name(request) -> str | None:
    """The IANA name the viewer's browser reported, or None (no cookie, or not a zone we know)."""
    cookies = getattr(request, "COOKIES", None) or {}
    name = unquote(cookies.get(VIEWER_ZONE_COOKIE, ""))[:64]
    return name if name in known_zones() else None


def viewer_zone(request) -> ZoneInfo:
    name = viewer_zone_name(request)
    return ZoneInfo(name) if name else UTC_ZONE
