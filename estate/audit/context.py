"""Who is acting and from where, read from the request being served (estate.core.context)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from estate.core.context import current_request
from estate.core.net import client_ip

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str
    ip: str | None
    via: str


def current_actor() -> Actor:
    """The request's user, resolved now (DRF sets a token's user on the Django request once it
    has authenticated); "system" via "worker" when no request is being served (Celery, beat)."""
    request = current_request()
    if request is None:
        return Actor(None, SYSTEM, None, "worker")
    return actor_of(request)


def actor_of(request, user=None) -> Actor:
    user = user if user is not None else getattr(request, "user", None)
    known = bool(user is not None and user.is_authenticated)
    return Actor(
        user.pk if known else None,
        user.get_username() if known else "",
        _valid_ip(client_ip(request)),
        via_of(request, known),
    )


def _valid_ip(value: str) -> str | None:
    # Behind proxies the address comes from a header: keep it only if it is one.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def via_of(request, known: bool) -> str:
    auth = getattr(request, "auth", None)
    if auth is not None:
        meta = getattr(auth, "_meta", None)
        if meta is not None and meta.label_lower == "telemetry.ingesttoken":
            return "ingest-token"
        name = getattr(auth, "name", "")
        return f"token:{name}"[:120] if name else "token"
    return "session" if known else ""
