"""Issue 12, "health has one owner": the components an ingest names are evaluated right after it
commits, on a real worker, without the beat; a flood of batches queues one evaluation."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from rest_framework.test import APIClient

from estate.inventory.choices import Category, Health
from estate.inventory.models import Component, Instance
from estate.telemetry import reevaluation, services
from estate.telemetry.health import evaluate_estate
from estate.telemetry.models import ComponentTelemetry, HealthChange, MetricRule, PendingEvaluation, Sample
from tests.factories import ImmutableComponentFactory, IngestTokenFactory, InstanceFactory, MetricRuleFactory
from tests.operations.test_worker import start_worker, stop
from tests.telemetry.conftest import URL


def _component(*, last_seen=None, rule: bool = True) -> Component:
    """One instance, a 60 s heartbeat, an error-rate rule (critical above 0.2); healthy once evaluated."""
    component = ImmutableComponentFactory(heartbeat_period_seconds=60)
    ComponentTelemetry.objects.create(component=component, grace_seconds=30)
    InstanceFactory(component=component, external_id=f"{component.slug}-1", last_seen_at=last_seen or timezone.now())
    if rule:
        MetricRuleFactory(component=component, window_seconds=60)
    return component


def _client() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {IngestTokenFactory().raw}")
    return client


def _send(client: APIClient, items: list[dict]) -> None:
    answer = client.post(URL, items, format="json")
    assert answer.status_code == 201, answer.content


def _error_rate(component: Component, value: float) -> dict:
    return {"type": "sample", "component": component.pk, "name": "http_error_rate", "value": value}


def _health(obj) -> str:
    obj.refresh_from_db()
    return obj.health


def _within(seconds: float, predicate) -> float:
    """How long the predicate took to hold; fails past `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def fresh_process():
    """As in a new web process: no evaluation queued by this one (an earlier test's is gone with its Redis)."""
    reevaluation._queued_until = 0.0
    yield
    reevaluation._queued_until = 0.0
    cache.delete(reevaluation.LOCK_KEY)


@pytest.fixture
def worker(tmp_path, fresh_process):
    """A real worker on the test's Redis db and database, and no beat; ready before the test sends."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    process = start_worker(tmp_path, "reeval")
    log = tmp_path / "reeval.log"
    _within(60, lambda: " ready." in log.read_text())
    yield log
    stop(process)


# --- with a real worker -------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_breaching_sample_flips_the_component_within_seconds_without_the_beat(worker):
    component = _component()
    evaluate_estate()
    assert _health(component) == Health.HEALTHY
    _send(_client(), [_error_rate(component, 0.5)])
    took = _within(10, lambda: _health(component) == Health.DOWN)
    assert took < 5, took
    change = HealthChange.objects.get(component=component, instance=None, to_state=Health.DOWN)
    assert change.from_state == Health.HEALTHY and "avg(http_error_rate) 0.5 > 0.2 (critical)" in change.reason
    assert "touched components evaluated: 1 components" in worker.read_text()
    assert "health evaluated" not in worker.read_text()  # the beat's task never ran
    print(f"\nhealth flipped {took:.2f} s after the batch was answered")


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_brings_a_down_instance_back_up_within_seconds(worker):
    component = _component(last_seen=timezone.now() - timedelta(hours=1), rule=False)
    evaluate_estate()
    instance = component.instances.get()
    assert (_health(instance), _health(component)) == (Health.DOWN, Health.DOWN)
    _send(_client(), [{"type": "heartbeat", "component": component.pk, "instance": instance.external_id}])
    _within(10, lambda: _health(component) == Health.HEALTHY)
    assert _health(instance) == Health.HEALTHY
    flips = HealthChange.objects.filter(component=component, to_state=Health.HEALTHY, from_state=Health.DOWN)
    assert sorted(flips.values_list("instance_id", flat=True), key=str) == sorted([instance.pk, None], key=str)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_component_in_maintenance_is_left_alone_while_its_neighbour_in_the_batch_flips(worker):
    patched, neighbour = _component(), _component()
    evaluate_estate()
    services.maintenance_begin(component_ids=[patched.pk], reason="patch window")
    before = HealthChange.objects.filter(component=patched).count()
    _send(_client(), [_error_rate(patched, 0.9), _error_rate(neighbour, 0.9)])
    _within(10, lambda: _health(neighbour) == Health.DOWN)
    assert not PendingEvaluation.objects.exists()  # the evaluation took both marks
    assert _health(patched) == Health.MAINTENANCE
    assert HealthChange.objects.filter(component=patched).count() == before


# --- the marks and the queue --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_committed_batch_marks_its_components_and_the_evaluation_takes_only_them(settings):
    touched, untouched = _component(), _component()
    evaluate_estate()
    Sample.objects.create(component=untouched, name="http_error_rate", value=0.9, ts=timezone.now())
    _send(_client(), [_error_rate(touched, 0.9)])
    assert set(PendingEvaluation.objects.values_list("component_id", flat=True)) == {touched.pk}
    result = reevaluation.evaluate_touched()
    assert result.components_changed == 1
    assert (_health(touched), _health(untouched)) == (Health.DOWN, Health.HEALTHY)  # the beat's business
    assert not PendingEvaluation.objects.exists()
    assert reevaluation.evaluate_touched() is None


@pytest.mark.django_db(transaction=True)
def test_a_refused_batch_marks_nothing():
    component = _component()
    answer = _client().post(URL, [_error_rate(component, 0.9), {"type": "sample"}], format="json")
    assert answer.status_code == 400
    assert not PendingEvaluation.objects.exists()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_flood_of_batches_queues_one_evaluation(settings, fresh_process):
    import redis

    settings.TELEMETRY_REEVALUATE_DELAY_SECONDS = 30  # every batch below lands inside one delay, however slow

    queue = redis.Redis.from_url(os.environ["REDIS_URL"])
    queue.flushdb()
    components = [_component() for _ in range(5)]
    client = _client()
    for n in range(30):
        _send(client, [_error_rate(components[n % 5], 0.01)])
    [message] = queue.lrange("celery", 0, -1)  # one message for the thirty batches, due in 30 s
    headers = json.loads(message)["headers"]
    assert headers["task"] == "estate.telemetry.tasks.evaluate_touched" and headers["eta"]
    assert set(PendingEvaluation.objects.values_list("component_id", flat=True)) == {c.pk for c in components}


# --- cost ---------------------------------------------------------------------------------


def _steady(ids: list[int]) -> int:
    """As the estate-wide evaluation: savepoint and release, missing telemetry rows, changed instances,
    components, instance counts, rules: 7; then one aggregate per distinct (metric, aggregation, window)
    of the rules that apply to these components (their own, their category's defaults)."""
    rules = MetricRule.objects.filter(Q(component__in=ids) | Q(component=None, category=Category.SERVICE), enabled=True)
    return 7 + rules.values_list("metric", "aggregation", "window_seconds").distinct().count()


@pytest.mark.django_db
@pytest.mark.parametrize("size", [1, 50])
def test_evaluating_touched_components_costs_the_same_number_of_queries_for_1_or_50(
    size, django_assert_max_num_queries, django_assert_num_queries
):
    components = [_component() for _ in range(size + 3)]  # three more that are not touched
    ids = [c.pk for c in components[:size]]
    evaluate_estate(component_ids=ids)  # the first run flips them out of unknown
    for component in components[:size]:
        Sample.objects.create(component=component, name="http_error_rate", value=0.9, ts=timezone.now())
    with django_assert_max_num_queries(_steady(ids) + 4):
        result = evaluate_estate(component_ids=ids)
    assert result.components_changed == size
    with django_assert_num_queries(_steady(ids)):
        evaluate_estate(component_ids=ids)
    assert Component.objects.exclude(pk__in=ids).filter(health=Health.UNKNOWN).count() == 3
    assert Instance.objects.exclude(component_id__in=ids).filter(health=Health.UNKNOWN).count() == 3
