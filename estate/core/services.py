"""Write helpers every app's services share."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from estate.core.cache import estate_changed


def validated_save(obj: models.Model, *, m2m: dict[str, Any] | None = None) -> models.Model:
    """full_clean() then save, turning a lost race on a constraint into a ValidationError.

    Two requests can both pass full_clean() and then meet at a unique constraint; the loser
    gets the same field message it would have got had it come second.
    """
    obj.full_clean()
    try:
        with transaction.atomic():
            obj.save()
            for name, values in (m2m or {}).items():
                getattr(obj, name).set(values)
    except IntegrityError as exc:
        obj.full_clean()
        raise ValidationError("The change conflicts with a concurrent change; reload and try again.") from exc
    estate_changed()
    return obj


def assign(obj: models.Model, data: dict[str, Any]) -> dict[str, Any]:
    """Set plain fields on obj; return the many-to-many values for validated_save."""
    m2m = {}
    for name, value in data.items():
        field = obj._meta.get_field(name)
        if field.many_to_many:
            m2m[name] = value
        else:
            setattr(obj, name, value)
    return m2m


def validated_delete(obj: models.Model) -> None:
    """Delete and drop the cached estate-wide figures; protected references raise ProtectedError (a 409)."""
    with transaction.atomic():
        obj.delete()
        estate_changed()
