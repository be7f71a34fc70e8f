from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.core.findings import finding_counts, finding_list
from estate.inventory.choices import Category, Health
from estate.inventory.models import Component
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import MetricRule
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, InstanceFactory

pytestmark = pytest.mark.django_db

KINDS = ("heartbeat-missing", "no-metric-rule", "instance-not-reporting")


def _counts() -> dict[str, int]:
    counts = finding_counts()
    return {kind: counts[kind] for kind in KINDS}


def test_a_ready_component_has_no_readiness_finding():
    component = ImmutableComponentFactory()
    InstanceFactory(component=component, last_seen_at=timezone.now())
    evaluate_estate()
    assert _counts() == dict.fromkeys(KINDS, 0)


def test_heartbeats_that_stop_arriving_are_a_finding():
    component = ImmutableComponentFactory(heartbeat_period_seconds=30)
    InstanceFactory(component=component, last_seen_at=timezone.now() - timedelta(hours=1))
    InstanceFactory(component=component, last_seen_at=None)
    from estate.telemetry.models import ComponentTelemetry

    ComponentTelemetry.objects.create(component=component, last_heartbeat_at=timezone.now() - timedelta(hours=1))
    evaluate_estate()
    assert _counts() == {"heartbeat-missing": 1, "no-metric-rule": 0, "instance-not-reporting": 2}
    _, findings = finding_list(kind="heartbeat-missing")
    assert "past its period and grace" in findings[0].message


def test_a_component_no_rule_watches_is_a_finding():
    MetricRule.objects.filter(category=Category.WORKER).delete()
    ImmutableComponentFactory(category=Category.WORKER)
    assert _counts()["no-metric-rule"] == 1


def test_bastions_and_components_in_maintenance_are_not_judged_for_immutability():
    BastionComponentFactory(heartbeat_period_seconds=30)
    component = ImmutableComponentFactory()
    InstanceFactory(component=component)
    evaluate_estate()
    assert _counts()["heartbeat-missing"] == 1
    Component.objects.filter(pk=component.pk).update(health=Health.MAINTENANCE)
    assert _counts() == dict.fromkeys(KINDS, 0)


def test_a_component_that_switched_every_default_off_is_a_finding():
    component = ImmutableComponentFactory(category=Category.WORKER)
    assert _counts()["no-metric-rule"] == 0
    for rule in MetricRule.objects.filter(category=Category.WORKER):
        MetricRule.objects.create(component=component, metric=rule.metric, warn=1, critical=2, enabled=False)
    assert _counts()["no-metric-rule"] == 1
