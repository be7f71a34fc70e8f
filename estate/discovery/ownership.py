"""Which fields of a component its source owns, told to the inventory (inventory/ownership.py), and the
detach that gives them back to people."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from estate.audit.choices import AuditAction
from estate.audit.services import audit_record
from estate.core.services import guard_write
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.inventory.models import Component
from estate.inventory.ownership import FieldOwner

# What a source decides about a component it found; the rest (description, heartbeat, tags,
# dependencies) is the people's. Slug and environment are its natural key, set once at creation.
COMPONENT_FIELDS = (
    "name", "category", "mode", "holds_state", "managed", "provider", "engine", "engine_version",
    "desired_instances", "team", "system", "cluster", "role",
)  # fmt: skip
TAGGED = ("team", "system")  # owned only when the source reads them from a tag
INSTANCE_FIELDS = ("state", "address", "zone", "image")
INSTANCE_HINT = "detach its component to edit"


def managed_fields(source: DiscoverySource) -> tuple[str, ...]:
    """The columns a sync of `source` writes on a component it found, and a person may not."""
    unread = {name for name in TAGGED if not (source.tag_keys or {}).get(name)}
    return tuple(name for name in COMPONENT_FIELDS if name not in unread) + ("current_image",)


def component_owners(component_ids: Collection[int]) -> dict[int, FieldOwner]:
    """The inventory's lookup: one query for any number of components."""
    records = DiscoveredObject.objects.filter(
        component_id__any_of=component_ids, detached_at__isnull=True
    ).select_related("source")
    return {r.component_id: _owner(r) for r in records}


def instance_owners(instance_ids: Collection[int]) -> dict[int, FieldOwner]:
    """An instance's fields are its source's until its component is detached (the instances go with it)."""
    records = DiscoveredObject.objects.filter(
        instance_id__any_of=instance_ids, detached_at__isnull=True
    ).select_related("source")
    owner = {r.source_id: FieldOwner(r.source.actor_name, frozenset(INSTANCE_FIELDS), INSTANCE_HINT) for r in records}
    return {r.instance_id: owner[r.source_id] for r in records}


def _owner(record: DiscoveredObject) -> FieldOwner:
    return FieldOwner(
        name=record.source.actor_name,
        fields=frozenset(managed_fields(record.source)),
        detach_url=reverse("discoveredobject-detach", args=[record.pk]),
    )


@transaction.atomic
def component_detach(*, record: DiscoveredObject, user=None) -> DiscoveredObject:
    """Make a discovered component hand-managed again: its source leaves it and its instances alone
    from the next sync on (and reports it as detached). Audited on the component."""
    record = (
        DiscoveredObject.objects.select_for_update(of=("self",)).select_related("source", "component").get(pk=record.pk)
    )
    if record.component is None:
        raise ValidationError({"component": "Only a component is detached (its instances go with it)."})
    if record.detached_at is not None:
        raise ValidationError({"component": f"{record.component} is already detached from {record.source}."})
    guard_write(record.component)  # the scope check: a person detaches only what they may edit
    now = timezone.now()
    user_id = getattr(user, "pk", None)
    DiscoveredObject.objects.filter(source=record.source, key__startswith=f"{record.key}#").update(
        detached_at=now, detached_by_id=user_id
    )
    record.detached_at, record.detached_by_id = now, user_id
    record.save(update_fields=["detached_at", "detached_by"])
    # A change of who manages it (no column of the component changes), so no action of its own.
    changes = {"managed_by": [record.source.actor_name, None]}
    message = f"detached from {record.source.actor_name}: its fields are hand-managed again"
    audit_record(action=AuditAction.CHANGE, obj=record.component, changes=changes, message=message)
    return record


def record_of(component: Component) -> DiscoveredObject | None:
    return DiscoveredObject.objects.select_related("source").filter(component=component).first()
