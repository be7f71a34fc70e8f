"""Who is acting and from where, read from the request being served (estate.core.context)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from estate.core.context import current_request
from estate.core.net import client_ip

SYSTEM = "system"
WORKER = "worker"


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str
    ip: str | None
    via: str


_acting_as: ContextVar[Actor | None] = ContextVar("estate_acting_as", default=None)


@contextmanager
def acting_as(name: str, *, via: str = WORKER, on_behalf_of: int | None = None) -> Iterator[Actor]:
    """Record the writes made inside as done by `name` (a worker, "policy:cart-api",
    "discovery:aws-prod"), optionally for the person (user id) who asked for the work."""
    actor = Actor(on_behalf_of, name[:150], None, via[:120])
    token = _acting_as.set(actor)
    try:
        yield actor
    finally:
        _acting_as.reset(token)


def current_actor() -> Actor:
    """Who acts now: an explicit acting_as() first, else the request's user, resolved now (DRF
    sets a token's user on the Django request once it has authenticated); "system" via "worker"
    when no request is being served (Celery, beat)."""
    explicit = _acting_as.get()
    if explicit is not None:
        return explicit
    request = current_request()
    if request is None:
        return Actor(None, SYSTEM, None, WORKER)
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
