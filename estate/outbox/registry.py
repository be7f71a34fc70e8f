"""Who sends each kind of message. Apps register their handlers in AppConfig.ready().

A handler takes the payload and returns a JSON-able result (kept on the row). It raises
PermanentFailure when trying again cannot help (the receiver refused the request as malformed);
any other exception is a transient failure, tried again later with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], Any]
_handlers: dict[str, Handler] = {}


class PermanentFailure(Exception):
    """Sending this message again would fail the same way: give up now."""


def register(kind: str, handler: Handler) -> None:
    _handlers[kind] = handler


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)


def kinds() -> list[str]:
    return sorted(_handlers)
