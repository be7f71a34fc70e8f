"""Where a request comes from."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """The client's address as DRF's throttles see it (X-Forwarded-For only behind NUM_PROXIES)."""
    return BaseThrottle().get_ident(request) or ""
