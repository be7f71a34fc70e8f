"""Fields of a component or instance that a source owns (discovery), refused to hand edits: one rule,
asked by the services every edit goes through (the form and the API only show it).

Inventory imports no higher app, so an owner registers a lookup from its AppConfig.ready(), the way
finding kinds and page panels do. A lookup is set-based: one query for a whole page of components.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from estate.inventory.models import Component


@dataclass(frozen=True)
class FieldOwner:
    """Who writes some fields of a component ("discovery:aws-prod") and how a person takes them back."""

    name: str
    fields: frozenset[str]
    hint: str = "detach it to edit"
    detach_url: str = ""  # the API's address that makes the component hand-managed again

    def refusal(self) -> str:
        return f"Managed by {self.name}; {self.hint}."


OwnerLookup = Callable[[Collection[int]], dict[int, FieldOwner]]
_lookups: dict[type[models.Model], list[OwnerLookup]] = {}


def register_field_owner(lookup: OwnerLookup, *, model: type[models.Model] = Component) -> None:
    """`lookup(ids)` answers {id: owner} for the rows of `model` (a component, an instance) it manages."""
    registered = _lookups.setdefault(model, [])
    if lookup not in registered:
        registered.append(lookup)


def field_owners(ids: Collection[int], *, model: type[models.Model] = Component) -> dict[int, FieldOwner]:
    """{id: its owner} for the rows some source manages; one query per owner kind."""
    ids = {pk for pk in ids if pk}  # a set: Django walks a list's every key when it builds the filter
    owners: dict[int, FieldOwner] = {}
    for lookup in _lookups.get(model, []) if ids else ():
        for pk, owner in lookup(ids).items():
            owners.setdefault(pk, owner)
    return owners


def owner_of(obj: models.Model) -> FieldOwner | None:
    return field_owners([obj.pk], model=type(obj)).get(obj.pk) if obj.pk else None


def hold_managed_fields(obj: models.Model, data: dict[str, Any]) -> None:
    """Refuse `data` if it changes a field the row's owner manages, naming each field.

    The stored row is read under a lock and its managed values are put back on `obj`, so the full
    save that follows cannot write back values a sync changed after the caller loaded the row (and a
    sync cannot write between this read and that save: it waits for the lock)."""
    owner = owner_of(obj)
    if owner is None:
        return
    stored = type(obj).objects.select_for_update().get(pk=obj.pk)
    changed = sorted(name for name in owner.fields & data.keys() if _changes(stored, name, data[name]))
    if changed:
        raise ValidationError({name: owner.refusal() for name in changed})
    for name in owner.fields:
        attname = obj._meta.get_field(name).attname
        setattr(obj, attname, getattr(stored, attname))


def _changes(stored: models.Model, name: str, value: Any) -> bool:
    attname = stored._meta.get_field(name).attname
    return getattr(stored, attname) != getattr(value, "pk", value)
