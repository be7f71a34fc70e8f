"""Observability readiness (principle 2): what an immutable component lacks before it can rely on replacement.

The inventory already reports an immutable component with no heartbeat configured
(`no-telemetry`); these kinds cover a configured heartbeat that does not arrive, a component
no metric rule watches, and instances that do not report. Each reads the state the health
evaluation stored, so each is one query.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from estate.core.choices import Severity
from estate.core.findings import FindingKind, register
from estate.inventory.choices import LIVE_INSTANCE_STATES, Health, Mode
from estate.inventory.models import Component, Instance
from estate.telemetry.choices import HeartbeatState
from estate.telemetry.health import INSTANCE_REASONS
from estate.telemetry.models import MetricRule


def _watched_immutable() -> QuerySet:
    return (
        Component.objects.filter(mode=Mode.IMMUTABLE, heartbeat_period_seconds__isnull=False)
        .exclude(health=Health.MAINTENANCE)
        .select_related("environment", "telemetry")
    )


def _heartbeat_missing() -> QuerySet:
    """Heartbeat configured but, at the last evaluation, not arriving within period + grace (or never)."""
    return _watched_immutable().filter(telemetry__heartbeat_state__in=[HeartbeatState.NEVER, HeartbeatState.DOWN])


def _no_metric_rule() -> QuerySet:
    own = MetricRule.objects.filter(component=OuterRef("pk"), enabled=True)
    # A default counts unless the component switched it off with a disabled rule of its own.
    switched_off = MetricRule.objects.filter(component=OuterRef(OuterRef("pk")), metric=OuterRef("metric"))
    default = MetricRule.objects.filter(component__isnull=True, category=OuterRef("category"), enabled=True).exclude(
        Exists(switched_off)
    )
    return (
        Component.objects.filter(mode=Mode.IMMUTABLE)
        .filter(~Exists(own), ~Exists(default))
        .select_related("environment")
    )


def _instances_not_reporting() -> QuerySet:
    return (
        Instance.objects.filter(
            state__in=LIVE_INSTANCE_STATES,
            component__mode=Mode.IMMUTABLE,
            component__heartbeat_period_seconds__isnull=False,
        )
        .filter(
            # As evaluated: an instance no evaluation has looked at yet has no reason and is not counted.
            Q(health=Health.DOWN) | Q(health=Health.UNKNOWN, health_reason=INSTANCE_REASONS["never"])
        )
        .exclude(component__health=Health.MAINTENANCE)
        .select_related("component")
    )


def _describe_heartbeat(component: Component) -> str:
    telemetry = component.telemetry
    if telemetry.last_heartbeat_at is None:
        return f"{component.name} ({component.environment}) has never sent a heartbeat."
    return (
        f"{component.name} ({component.environment}) last sent a heartbeat at "
        f"{telemetry.last_heartbeat_at:%Y-%m-%d %H:%M} UTC, past its period and grace."
    )


def _describe_instance(instance: Instance) -> str:
    seen = f"last seen {instance.last_seen_at:%Y-%m-%d %H:%M} UTC" if instance.last_seen_at else "never seen"
    return f"{instance.external_id} of {instance.component.name} does not report ({seen})."


KINDS = [
    FindingKind(
        slug="heartbeat-missing",
        title="Heartbeats not arriving within the grace",
        severity=Severity.WARNING,
        principle=2,
        advice="Make every instance send its heartbeat to /api/v1/telemetry/ with an ingest token, "
        "or fix the shipper; without a live signal a rolling replacement cannot be gated.",
        violators=_heartbeat_missing,
        describe=_describe_heartbeat,
    ),
    FindingKind(
        slug="no-metric-rule",
        title="No metric rule watches an immutable component",
        severity=Severity.INFO,
        principle=2,
        advice="Add a metric rule (an error rate or latency threshold), or a default rule for the category.",
        violators=_no_metric_rule,
        describe=lambda c: f"{c.name} ({c.environment}) has no metric rule, its own or its category's.",
    ),
    FindingKind(
        slug="instance-not-reporting",
        title="Instance not reporting",
        severity=Severity.WARNING,
        principle=2,
        advice="An instance that sends no heartbeat is invisible; replace it or fix its shipper.",
        violators=_instances_not_reporting,
        component_path="component",
        describe=_describe_instance,
    ),
]


def register_all() -> None:
    for kind in KINDS:
        register(kind)
