from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Component, Instance
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import ComponentTelemetry, HealthChange, MetricRule, Sample
from estate.telemetry.tasks import evaluate_health
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, InstanceFactory, MetricRuleFactory

pytestmark = pytest.mark.django_db

T0 = timezone.datetime(2026, 3, 1, 12, 0, tzinfo=timezone.UTC)


def _component(n_instances: int = 2, period: int = 60, grace: int = 120, **extra) -> Component:
    component = ImmutableComponentFactory(heartbeat_period_seconds=period, **extra)
    ComponentTelemetry.objects.create(component=component, grace_seconds=grace)
    for n in range(n_instances):
        InstanceFactory(component=component, external_id=f"{component.slug}-{n}")
    return component


def _seen(component: Component, at, *external_ids: str) -> None:
    qs = Instance.objects.filter(component=component)
    if external_ids:
        qs = qs.filter(external_id__in=external_ids)
    qs.update(last_seen_at=at)


def _health(obj) -> tuple[str, str]:
    obj.refresh_from_db()
    return obj.health, obj.health_reason


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_fresh_heartbeats_make_a_component_healthy(clock):
    component = _component()
    _seen(component, T0)
    evaluate_estate()
    assert _health(component) == (Health.HEALTHY, "all 2 instances reporting")
    assert {i.health for i in component.instances.all()} == {Health.HEALTHY}


def test_late_inside_the_grace_is_degraded_then_down_past_it(clock):
    component = _component(n_instances=1, period=60, grace=120)
    _seen(component, T0)
    clock.move_to(T0 + timedelta(seconds=90))
    evaluate_estate()
    instance = component.instances.get()
    assert _health(instance) == (Health.DEGRADED, "heartbeat late (inside the grace time)")
    assert _health(component)[0] == Health.DEGRADED
    clock.move_to(T0 + timedelta(seconds=181))
    evaluate_estate()
    assert _health(instance) == (Health.DOWN, "no heartbeat within the period and grace")
    assert _health(component) == (Health.DOWN, "its instance is down")


def test_the_default_grace_applies_without_a_setting(clock, settings):
    settings.TELEMETRY_DEFAULT_GRACE_SECONDS = 30
    component = ImmutableComponentFactory(heartbeat_period_seconds=60)
    InstanceFactory(component=component)
    _seen(component, T0)
    clock.move_to(T0 + timedelta(seconds=89))
    evaluate_estate()
    assert _health(component)[0] == Health.DEGRADED
    clock.move_to(T0 + timedelta(seconds=91))
    evaluate_estate()
    assert _health(component)[0] == Health.DOWN


def test_one_instance_down_of_three_is_degraded(clock):
    component = _component(n_instances=3)
    _seen(component, T0)
    _seen(component, T0 - timedelta(hours=1), f"{component.slug}-0")
    evaluate_estate()
    assert _health(component) == (Health.DEGRADED, "1 of 3 instances down")


def test_never_reported_is_unknown(clock):
    component = _component()
    evaluate_estate()
    assert _health(component) == (Health.UNKNOWN, "none of 2 instances has reported")
    assert _health(component.instances.first()) == (Health.UNKNOWN, "never sent a heartbeat")


def test_no_heartbeat_configured_is_unknown(clock):
    component = ImmutableComponentFactory(heartbeat_period_seconds=None)
    InstanceFactory(component=component)
    evaluate_estate()
    assert _health(component) == (Health.UNKNOWN, "no heartbeat configured")


def test_a_component_heartbeat_counts_when_it_has_no_instance(clock):
    component = _component(n_instances=0)
    ComponentTelemetry.objects.filter(component=component).update(last_heartbeat_at=T0 - timedelta(seconds=30))
    evaluate_estate()
    assert _health(component) == (Health.HEALTHY, "heartbeat fresh")


def test_terminated_instances_do_not_count(clock):
    component = _component(n_instances=2)
    _seen(component, T0)
    InstanceFactory(component=component, state=InstanceState.TERMINATED, last_seen_at=T0 - timedelta(days=1))
    evaluate_estate()
    assert _health(component)[0] == Health.HEALTHY


def test_every_change_is_recorded_once_with_its_reason(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    evaluate_estate()
    evaluate_estate()
    clock.move_to(T0 + timedelta(minutes=10))
    evaluate_estate()
    flips = list(HealthChange.objects.filter(component=component, instance=None).order_by("at"))
    assert [(f.from_state, f.to_state) for f in flips] == [
        (Health.UNKNOWN, Health.HEALTHY),
        (Health.HEALTHY, Health.DOWN),
    ]
    assert flips[1].reason == "its instance is down"
    assert flips[1].at == T0 + timedelta(minutes=10)
    component.refresh_from_db()
    assert component.health_changed_at == T0 + timedelta(minutes=10)
    instance_flips = HealthChange.objects.filter(component=component, instance__isnull=False)
    assert [(f.from_state, f.to_state) for f in instance_flips.order_by("at")] == [
        (Health.UNKNOWN, Health.HEALTHY),
        (Health.HEALTHY, Health.DOWN),
    ]


def test_maintenance_is_left_alone_and_raises_no_alarm(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    evaluate_estate()
    Component.objects.filter(pk=component.pk).update(health=Health.MAINTENANCE, health_reason="patch window")
    before = HealthChange.objects.count()
    clock.move_to(T0 + timedelta(hours=1))
    evaluate_estate()
    assert _health(component) == (Health.MAINTENANCE, "patch window")
    assert HealthChange.objects.count() == before
    # The instance's own state stays current for the page, silently.
    assert component.instances.get().health == Health.DOWN
    # The window ends: patching puts the component back to unknown and evaluation takes over.
    Component.objects.filter(pk=component.pk).update(health=Health.UNKNOWN, health_reason="")
    _seen(component, T0 + timedelta(hours=1))
    evaluate_estate()
    assert _health(component)[0] == Health.HEALTHY
    last = HealthChange.objects.filter(component=component, instance=None).first()
    assert (last.from_state, last.to_state) == (Health.UNKNOWN, Health.HEALTHY)


def test_a_component_that_enters_maintenance_during_evaluation_is_not_overwritten(clock, monkeypatch):
    from estate.telemetry import health

    component = _component(n_instances=1)
    _seen(component, T0)
    real = health._write_components

    def patch_window_starts(*args, **kwargs):
        Component.objects.filter(pk=component.pk).update(health=Health.MAINTENANCE)
        return real(*args, **kwargs)

    monkeypatch.setattr(health, "_write_components", patch_window_starts)
    evaluate_estate()
    assert _health(component)[0] == Health.MAINTENANCE
    assert not HealthChange.objects.filter(component=component, instance=None).exists()


def _samples(component, name, values, at):
    Sample.objects.bulk_create([Sample(component=component, name=name, value=v, ts=at) for v in values])


def test_a_metric_over_warn_degrades_and_over_critical_downs(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    MetricRuleFactory(component=component, metric="http_error_rate", warn=0.05, critical=0.2, unit="ratio")
    _samples(component, "http_error_rate", [0.08, 0.1], T0 - timedelta(seconds=30))
    evaluate_estate()
    assert _health(component) == (Health.DEGRADED, "avg(http_error_rate) 0.09 ratio > 0.05 (warning)")
    _samples(component, "http_error_rate", [0.9, 0.9], T0 - timedelta(seconds=10))
    evaluate_estate()
    assert _health(component)[0] == Health.DOWN
    assert "(critical)" in component.health_reason


def test_samples_outside_the_window_do_not_count(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    MetricRuleFactory(component=component, metric="http_error_rate", window_seconds=300)
    _samples(component, "http_error_rate", [0.9], T0 - timedelta(seconds=301))
    evaluate_estate()
    assert _health(component)[0] == Health.HEALTHY


def test_a_below_rule_breaches_when_the_value_falls(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    MetricRuleFactory(component=component, metric="hit_ratio", comparison="below", warn=0.8, critical=0.5)
    _samples(component, "hit_ratio", [0.7], T0)
    evaluate_estate()
    assert _health(component) == (Health.DEGRADED, "avg(hit_ratio) 0.7 < 0.8 (warning)")


def test_category_defaults_apply_and_a_component_rule_overrides_them(clock):
    assert MetricRule.objects.filter(component=None, category="service", metric="http_error_rate").exists()
    judged_by_default = _component(n_instances=1)
    overridden = _component(n_instances=1)
    _seen(judged_by_default, T0)
    _seen(overridden, T0)
    MetricRuleFactory(component=overridden, metric="http_error_rate", warn=0.5, critical=0.9)
    for component in (judged_by_default, overridden):
        _samples(component, "http_error_rate", [0.3], T0)
    evaluate_estate()
    assert _health(judged_by_default)[0] == Health.DOWN  # default critical is 0.10
    assert _health(overridden) == (Health.HEALTHY, "its instance is reporting; 1 metric rule within thresholds")


def test_a_healthy_metric_does_not_hide_a_missing_heartbeat(clock):
    component = _component(n_instances=1)
    MetricRuleFactory(component=component)
    _samples(component, "http_error_rate", [0.0], T0)
    evaluate_estate()
    assert _health(component)[0] == Health.UNKNOWN


def test_bastions_are_evaluated_alike(clock):
    db = BastionComponentFactory(heartbeat_period_seconds=30)
    InstanceFactory(component=db, last_seen_at=T0)
    evaluate_estate()
    assert _health(db)[0] == Health.HEALTHY


def _estate(size: int) -> None:
    for _ in range(size):
        component = _component(n_instances=2)
        _seen(component, T0)
        MetricRuleFactory(component=component)
        _samples(component, "http_error_rate", [0.01], T0)


@pytest.mark.parametrize("size", [3, 30])
def test_evaluation_costs_the_same_number_of_queries_whatever_the_size(clock, size, django_assert_num_queries):
    _estate(size)
    evaluate_estate()  # the first run flips everything out of unknown
    clock.move_to(T0 + timedelta(seconds=1))
    with django_assert_num_queries(_steady_queries()):
        evaluate_estate()


def _steady_queries() -> int:
    """Savepoint and release, missing telemetry rows, changed instances, components, instance counts,
    rules: 7; then one aggregate per distinct (metric, aggregation, window)."""
    keys = set(MetricRule.objects.values_list("metric", "aggregation", "window_seconds"))
    return 7 + len(keys)


@pytest.mark.parametrize("size", [3, 30])
def test_a_flip_of_the_whole_estate_costs_a_bounded_number_of_queries(clock, size, django_assert_max_num_queries):
    _estate(size)
    evaluate_estate()
    clock.move_to(T0 + timedelta(hours=1))
    with django_assert_max_num_queries(_steady_queries() + 4):
        result = evaluate_estate()
    assert result.components_changed == size


def test_the_beat_task_evaluates(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    evaluate_health.apply()
    assert _health(component)[0] == Health.HEALTHY


def test_a_disabled_rule_of_its_own_switches_a_default_off(clock):
    component = _component(n_instances=1)
    _seen(component, T0)
    MetricRuleFactory(component=component, metric="http_error_rate", enabled=False)
    _samples(component, "http_error_rate", [0.9], T0)
    evaluate_estate()
    assert _health(component)[0] == Health.HEALTHY
