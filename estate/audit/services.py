"""Writing the audit trail: one event, or many in one INSERT, in the caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from estate.audit.choices import AuditAction
from estate.audit.context import Actor, current_actor
from estate.audit.models import AuditEvent

MASK = "•••"
# Never written into `changes`, whatever the model: secrets and their hashes.
SENSITIVE = frozenset(
    {
        "password",
        "key",
        "key_hash",
        "token",
        "token_hash",
        "secret",
        "secret_hash",
        "api_key",
        "private_key",
        "webhook_secret",
    }
)


def object_type_of(obj: models.Model | type[models.Model]) -> str:
    return obj._meta.label_lower


def _plain(value: Any) -> Any:
    """A JSON value for the JSONField: datetimes, decimals and durations as DjangoJSONEncoder writes them."""
    return json.loads(json.dumps(value, cls=_Encoder))


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def masked(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes with every sensitive field's value (or pair of values) replaced by a mask."""
    clean = {}
    for name, value in changes.items():
        if name.lower() in SENSITIVE:
            value = [MASK, MASK] if isinstance(value, (list, tuple)) and len(value) == 2 else MASK
        clean[name] = value
    return _plain(clean)


def audit_event(
    *,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    message: str = "",
    actor: Actor | None = None,
) -> AuditEvent:
    """An unsaved event; the actor defaults to the request being served (or the system)."""
    actor = actor or current_actor()
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = object_id if object_id != "" else obj.pk
        object_repr = object_repr or str(obj)
    return AuditEvent(
        actor_id=actor.id,
        actor=actor.name[:150],
        ip=actor.ip,
        via=actor.via,
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id)[:64],
        object_repr=object_repr[:300],
        changes=masked(changes or {}),
        message=message,
    )


def audit_record(**kwargs) -> AuditEvent:
    """Write one event now (call it inside the transaction of the write it records)."""
    event = audit_event(**kwargs)
    event.save()
    return event


def audit_record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Write events built with audit_event() in one INSERT."""
    return AuditEvent.objects.bulk_create(events) if events else []


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list]:
    """{field: [before, after]} for the fields whose value differs."""
    return {name: [before.get(name), value] for name, value in after.items() if before.get(name) != value}


def access_denied_record(*, request, reason: str, actor: Actor) -> AuditEvent:
    """One ACCESS_DENIED event: who was refused what (method and path) and why."""
    path = request.get_full_path()[:500]
    return audit_record(
        action=AuditAction.ACCESS_DENIED,
        object_repr=f"{request.method} {path}",
        changes={"method": request.method, "path": path, "reason": reason},
        message=reason,
        actor=actor,
    )
