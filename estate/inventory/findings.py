"""Inventory's finding kinds: principles 1, 2 and 4 read off the inventory alone."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from estate.core.choices import Severity
from estate.core.db import DaysAgo
from estate.core.findings import FindingKind, register
from estate.inventory.choices import LIVE_INSTANCE_STATES, Mode
from estate.inventory.models import Component, Instance


def _immutable_components() -> QuerySet:
    return Component.objects.filter(mode=Mode.IMMUTABLE).select_related("environment", "system")


def _live_immutable_instances() -> QuerySet:
    return Instance.objects.filter(state__in=LIVE_INSTANCE_STATES, component__mode=Mode.IMMUTABLE).select_related(
        "component", "image", "component__current_image"
    )


def _hands_on() -> QuerySet:
    return _immutable_components().filter(Q(ssh_enabled=True) | Q(config_management_enabled=True))


def _local_state() -> QuerySet:
    return _immutable_components().exclude(local_state="")


def _no_telemetry() -> QuerySet:
    return _immutable_components().filter(heartbeat_period_seconds__isnull=True)


def _tainted() -> QuerySet:
    return _live_immutable_instances().filter(tainted=True)


def _image_drift() -> QuerySet:
    return (
        _live_immutable_instances()
        .filter(component__current_image__isnull=False)
        .exclude(image=F("component__current_image"))
    )


def _too_old() -> QuerySet:
    return _live_immutable_instances().filter(
        component__max_instance_age_days__isnull=False,
        launched_at__lt=DaysAgo("component__max_instance_age_days"),
    )


def _describe_hands_on(component: Component) -> str:
    tools = [
        name
        for name, on in (
            ("SSH", component.ssh_enabled),
            ("config management", component.config_management_enabled),
        )
        if on
    ]
    return f"{component.name} ({component.environment}) has {' and '.join(tools)} enabled."


def _describe_drift(instance: Instance) -> str:
    running = instance.image.version if instance.image else "an unknown image"
    component = instance.component
    return f"{instance.external_id} runs {running}; {component.name} is on {component.current_image.version}."


def _describe_age(instance: Instance) -> str:
    limit = instance.component.max_instance_age_days
    return (
        f"{instance.external_id} of {instance.component.name} was launched "
        f"{instance.launched_at:%Y-%m-%d}, past the {limit}-day limit."
    )


KINDS = [
    FindingKind(
        slug="immutable-hands-on",
        title="SSH or config management on an immutable component",
        severity=Severity.CRITICAL,
        principle=1,
        advice="Turn off SSH and config management; troubleshoot through telemetry and replace bad instances.",
        violators=_hands_on,
        describe=_describe_hands_on,
    ),
    FindingKind(
        slug="tainted-instance",
        title="Instance modified after deploy",
        severity=Severity.CRITICAL,
        principle=1,
        advice="Replace the instance with a new one built from the component's image.",
        violators=_tainted,
        component_path="component",
        describe=lambda i: f"{i.external_id} of {i.component.name} is tainted: {i.taint_reason}",
    ),
    FindingKind(
        slug="immutable-local-state",
        title="Immutable component declares local state",
        severity=Severity.WARNING,
        principle=4,
        advice="Move that state to a shared store (a cache, a queue, an object store) so any instance can be replaced.",
        violators=_local_state,
        describe=lambda c: f"{c.name} ({c.environment}) keeps local state: {c.local_state}",
    ),
    FindingKind(
        slug="no-telemetry",
        title="Immutable component without telemetry",
        severity=Severity.WARNING,
        principle=2,
        advice="Configure a heartbeat before relying on replacement; without a health signal people go back to SSH.",
        violators=_no_telemetry,
        describe=lambda c: f"{c.name} ({c.environment}) reports no heartbeat.",
    ),
    FindingKind(
        slug="image-drift",
        title="Instance not on the current image",
        severity=Severity.WARNING,
        principle=1,
        advice="Roll the component onto its current image.",
        violators=_image_drift,
        component_path="component",
        describe=_describe_drift,
    ),
    FindingKind(
        slug="instance-too-old",
        title="Instance older than its maximum age",
        severity=Severity.INFO,
        principle=1,
        advice="Replace old instances so that every instance is rebuilt regularly from a fresh image.",
        violators=_too_old,
        component_path="component",
        describe=_describe_age,
    ),
]


def register_all() -> None:
    for kind in KINDS:
        register(kind)
