"""Write helpers every app's services share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from estate.core.cache import estate_changed
from estate.core.signals import estate_written

# Checks every write must pass before it happens (the access app registers the scope check).
# A guard raises django.core.exceptions.PermissionDenied with the reason.
WriteGuard = Callable[[models.Model, dict[str, Any]], None]
_write_guards: list[WriteGuard] = []


def register_write_guard(guard: WriteGuard) -> None:
    if guard not in _write_guards:
        _write_guards.append(guard)


# Checks a delete must pass, asked inside its transaction: another app refuses the delete of
# something its own rows rest on (an active operation, a person's access scope) with an
# ApplicationError(status=409) that names them. Lower apps never import the higher ones that care.
DeleteGuard = Callable[[models.Model], None]
_delete_guards: list[DeleteGuard] = []


def register_delete_guard(guard: DeleteGuard) -> None:
    if guard not in _delete_guards:
        _delete_guards.append(guard)


def guard_write(obj: models.Model, m2m: dict[str, Any] | None = None) -> None:
    """Run every write guard; services that write without validated_save call this themselves."""
    for guard in _write_guards:
        guard(obj, m2m or {})


def validated_save(
    obj: models.Model, *, m2m: dict[str, Any] | None = None, action: str = "", message: str = ""
) -> models.Model:
    """full_clean() then save, turning a lost race on a constraint into a ValidationError.

    Two requests can both pass full_clean() and then meet at a unique constraint; the loser
    gets the same field message it would have got had it come second. The write is announced
    (estate_written) inside its transaction with the fields before and after; `action` names it
    more precisely than create/change ("occurrence_skipped").
    """
    guard_write(obj, m2m)
    obj.full_clean()
    try:
        with transaction.atomic():
            stored = None if obj._state.adding else stored_values(obj)
            before_m2m = _m2m_values(obj, m2m) if stored is not None else {}
            obj.save()
            for name, values in (m2m or {}).items():
                getattr(obj, name).set(values)
            _announce_save(obj, stored, before_m2m, m2m, action, message)
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


def validated_delete(obj: models.Model, *, message: str = "") -> None:
    """Delete and drop the cached estate-wide figures; protected references raise ProtectedError (a 409)."""
    guard_write(obj)
    with transaction.atomic():
        for guard in _delete_guards:
            guard(obj)
        # Announced first, while the instance still has its pk; a refused delete rolls it back.
        estate_written.send(
            sender=type(obj), instance=obj, action="delete", before=field_values(obj), after={}, message=message
        )
        obj.delete()
        estate_changed()


# --- what a write changed ------------------------------------------------------------------


def _tracked(obj: models.Model) -> list[models.Field]:
    # auto_now timestamps change on every save: they would turn a no-op save into a change.
    return [f for f in obj._meta.concrete_fields if not getattr(f, "auto_now", False)]


def field_values(obj: models.Model) -> dict[str, Any]:
    """{field name: value} of the concrete fields; a foreign key by its id."""
    return {f.name: f.value_from_object(obj) for f in _tracked(obj)}


def stored_values(obj: models.Model) -> dict[str, Any] | None:
    """The row as the database holds it now (one query), keyed like field_values; None if it is gone."""
    fields = _tracked(obj)
    row = type(obj)._base_manager.filter(pk=obj.pk).values(*(f.attname for f in fields)).first()
    return None if row is None else {f.name: row[f.attname] for f in fields}


def _m2m_values(obj: models.Model, m2m: dict[str, Any] | None) -> dict[str, list]:
    return {name: sorted(getattr(obj, name).values_list("pk", flat=True)) for name in (m2m or {})}


def _pks(values) -> list:
    return sorted(getattr(v, "pk", v) for v in values)


def _announce_save(obj, stored, before_m2m, m2m, action: str, message: str) -> None:
    after = field_values(obj) | {name: _pks(values) for name, values in (m2m or {}).items()}
    if stored is None:
        estate_written.send(
            sender=type(obj), instance=obj, action=action or "create", before={}, after=after, message=message
        )
        return
    before = stored | before_m2m
    changed = [name for name, value in after.items() if name in before and before[name] != value]
    if not changed:
        return
    estate_written.send(
        sender=type(obj),
        instance=obj,
        action=action or "change",
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
        message=message,
    )
