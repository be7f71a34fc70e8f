"""Demo telemetry: 24 hours of metrics and fresh, late, silent and dead heartbeats, so the demo
estate shows every health state. Run after load_demo_inventory(); safe to run again.

Without a shipper the heartbeats age: after a few minutes the beat task marks the demo down,
as it would a real estate whose telemetry stopped. Run `manage.py load_demo` again to refresh.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES
from estate.inventory.models import Component, Instance
from estate.telemetry.choices import Comparison
from estate.telemetry.health import evaluate_estate
from estate.telemetry.ingest import copy_samples
from estate.telemetry.models import ComponentTelemetry, MetricRule, Sample
from estate.telemetry.selectors import component_rules
from estate.telemetry.services import ensure_default_rules

# Scenario by position among the components with a heartbeat, so every state shows up.
SCENARIOS = ["healthy", "healthy", "one_instance_down", "healthy", "silent", "healthy", "metric_warn", "healthy",
             "dead"]  # fmt: skip


@transaction.atomic
def load_demo_telemetry(seed: int = 11) -> dict[str, int]:
    rng = random.Random(seed)
    now = timezone.now()
    ensure_default_rules()
    components = list(Component.objects.filter(heartbeat_period_seconds__isnull=False).order_by("pk"))
    ComponentTelemetry.objects.bulk_create([ComponentTelemetry(component=c) for c in components], ignore_conflicts=True)
    Sample.objects.filter(component__in=components, ts__gte=now - timedelta(hours=25)).delete()
    rows = []
    for n, component in enumerate(components):
        scenario = SCENARIOS[n % len(SCENARIOS)]
        _heartbeats(component, scenario, now)
        if scenario != "silent":
            rows.extend(_samples(component, scenario, now, rng))
    _insert(rows)
    _switch_off_defaults("image-resizer", "staging")
    result = evaluate_estate(now=now)
    return {"samples": len(rows), "changes": len(result.changes)}


def _switch_off_defaults(slug: str, environment: str) -> None:
    """A team that switched its category's default rules off and wrote none: a readiness gap to show."""
    component = Component.objects.filter(slug=slug, environment__slug=environment).first()
    if component is None:
        return
    for rule in MetricRule.objects.filter(component=None, category=component.category):
        MetricRule.objects.get_or_create(
            component=component,
            metric=rule.metric,
            defaults={"aggregation": rule.aggregation, "window_seconds": rule.window_seconds,
                      "comparison": rule.comparison, "warn": rule.warn, "critical": rule.critical,
                      "unit": rule.unit, "enabled": False},
        )  # fmt: skip


def _heartbeats(component: Component, scenario: str, now) -> None:
    period = component.heartbeat_period_seconds
    live = Instance.objects.filter(component=component, state__in=LIVE_INSTANCE_STATES).order_by("external_id")
    if scenario == "silent":
        live.update(last_seen_at=None)
        ComponentTelemetry.objects.filter(component=component).update(last_heartbeat_at=None)
        return
    fresh = now - timedelta(seconds=min(5, period // 2))
    seen = now - timedelta(hours=2) if scenario == "dead" else fresh
    live.update(last_seen_at=seen)
    if scenario == "one_instance_down":
        first = live.first()
        if first:
            Instance.objects.filter(pk=first.pk).update(last_seen_at=now - timedelta(minutes=30))
    ComponentTelemetry.objects.filter(component=component).update(last_heartbeat_at=seen)


def _samples(component: Component, scenario: str, now, rng: random.Random) -> list[tuple]:
    rows = []
    for rule in component_rules(component):
        healthy = rule.warn * (0.4 if rule.comparison == Comparison.ABOVE else 1.15)
        for step in range(288):
            ts = now - timedelta(minutes=5 * (287 - step))
            wave = 1 + 0.15 * math.sin(step / 24) + rng.uniform(-0.08, 0.08)
            value = healthy * wave
            breach = scenario == "metric_warn" and step >= 276 and rule == component_rules(component)[0]
            if breach:
                value = (rule.warn + rule.critical) / 2
            rows.append((component.pk, None, rule.metric, round(value, 4), rule.unit, ts))
    return rows


def _insert(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        copy_samples(rows)
        return
    Sample.objects.bulk_create(
        [Sample(component_id=c, instance_id=i, name=n, value=v, unit=u, ts=t) for c, i, n, v, u, t in rows],
        batch_size=2000,
    )
