"""Inventory's writes. Every rule is checked by the model (clean + constraints) before saving."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from estate.core.errors import ApplicationError
from estate.core.services import assign, validated_save
from estate.inventory.models import Component, Image, Instance
from estate.inventory.ownership import hold_managed_fields


def _check_dependencies(component: Component, depends_on) -> None:
    if component.pk and any(dep.pk == component.pk for dep in depends_on):
        raise ValidationError({"depends_on": "A component cannot depend on itself."})


@transaction.atomic
def component_create(*, data: dict[str, Any]) -> Component:
    component = Component()
    m2m = assign(component, data)
    return validated_save(component, m2m=m2m)


@transaction.atomic
def component_update(*, component: Component, data: dict[str, Any]) -> Component:
    """A person's edit (form, API, catalog): a field a source manages is refused unless detached."""
    hold_managed_fields(component, data)
    m2m = assign(component, data)
    _check_dependencies(component, m2m.get("depends_on", []))
    return validated_save(component, m2m=m2m)


@transaction.atomic
def component_bulk_create(*, items: list[dict[str, Any]]) -> list[Component]:
    """Create all the components or none; errors are keyed by the item's index."""
    created, errors = [], {}
    for index, data in enumerate(items):
        try:
            with transaction.atomic():
                created.append(component_create(data=data))
        except ValidationError as exc:
            errors[str(index)] = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    if errors:
        raise ApplicationError(
            f"{len(errors)} of {len(items)} items are invalid; nothing was created.",
            errors=errors,
        )
    return created


@transaction.atomic
def image_create(*, data: dict[str, Any], make_current: bool = False) -> Image:
    image = validated_save(Image(**data))
    if make_current:
        component = Component.objects.select_for_update().get(pk=image.component_id)
        component.current_image = image
        validated_save(component)
    return image


@transaction.atomic
def instance_save(*, instance: Instance | None = None, data: dict[str, Any]) -> Instance:
    instance = instance or Instance()
    hold_managed_fields(instance, data)
    was_tainted = instance.tainted
    assign(instance, data)
    if instance.tainted and not was_tainted:
        instance.tainted_at = timezone.now()
    elif not instance.tainted:
        instance.tainted_at = None
    return validated_save(instance)
