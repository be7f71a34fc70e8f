from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet

from estate.audit.models import AuditEvent


def event_list() -> QuerySet:
    """Newest first; the id breaks ties so pages never repeat or skip an event."""
    return AuditEvent.objects.order_by("-at", "-id")


def object_history(object_type: str, object_id, *, limit: int = 20) -> list[AuditEvent]:
    return with_names(event_list().filter(object_type=object_type, object_id=str(object_id))[:limit])


# Fields that name a row well enough for a person, tried in this order before str() (which may query).
BOOKKEEPING = frozenset({"id", "created_at", "updated_at"})
NAME_FIELDS = ("name", "title", "username", "external_id", "version", "slug")


def with_names(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """The events, each with `named_rows`: its change rows with the ids of related rows replaced by
    their names ("environment 1" → "production"). Set-based: the ids of every event are collected per
    related model, then each model is asked once, whatever the number of events."""
    events = list(events)
    wanted: dict[type[models.Model], set] = defaultdict(set)
    plans = [_relations(event) for event in events]
    for plan in plans:
        for related, ids in plan.values():
            wanted[related].update(ids)
    names = {model: _names(model, ids) for model, ids in wanted.items() if ids}
    for event, plan in zip(events, plans, strict=True):
        rows = sorted(event.change_rows, key=_field_order(event.object_type))
        event.named_rows = [
            (field, _named(before, plan.get(field), names), _named(after, plan.get(field), names))
            for field, before, after in rows
        ]
    return events


def _model_of(object_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(object_type) if object_type else None
    except (LookupError, ValueError):
        return None


def _field_order(object_type: str):
    """Rows in the order the model declares its fields (the stored JSON keeps no order of its own)."""
    model = _model_of(object_type)
    order = {f.name: i for i, f in enumerate(model._meta.get_fields())} if model else {}
    # The row's own bookkeeping says least: after the fields a person set.
    return lambda row: (row[0] in BOOKKEEPING, order.get(row[0], len(order)), row[0])


def _relations(event: AuditEvent) -> dict[str, tuple[type[models.Model], set]]:
    """{field: (related model, ids in this event's values)} for the fields that point at rows."""
    model = _model_of(event.object_type)
    if model is None:
        return {}
    found = {}
    for field_name, before, after in event.change_rows:
        try:
            field = model._meta.get_field(field_name)
        except FieldDoesNotExist:
            continue
        if field.is_relation and field.related_model is not None:
            found[field_name] = (field.related_model, set(_ids(before) + _ids(after)))
    return found


def _ids(value) -> list:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _names(model: type[models.Model], ids: set) -> dict:
    fields = {f.name for f in model._meta.get_fields()}
    label = next((name for name in NAME_FIELDS if name in fields), None)
    rows = model._base_manager.filter(pk__in=ids)
    if label:
        return dict(rows.values_list("pk", label))
    return {obj.pk: str(obj) for obj in rows}


def _named(value, plan, names: dict):
    """A recorded value with its ids as names; an id whose row is gone says so."""
    if plan is None or value is None:
        return value
    known = names.get(plan[0], {})

    def one(v):
        if isinstance(v, int) and not isinstance(v, bool):
            return known.get(v, f"#{v} (deleted)")
        return v

    return [one(v) for v in value] if isinstance(value, list) else one(value)
