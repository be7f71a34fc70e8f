from __future__ import annotations

from django.db.models import QuerySet

from estate.audit.models import AuditEvent


def event_list() -> QuerySet:
    """Newest first; the id breaks ties so pages never repeat or skip an event."""
    return AuditEvent.objects.order_by("-at", "-id")


def object_history(object_type: str, object_id, *, limit: int = 20) -> list[AuditEvent]:
    return list(event_list().filter(object_type=object_type, object_id=str(object_id))[:limit])
