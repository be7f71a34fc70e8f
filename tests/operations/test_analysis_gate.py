"""The analysis gate and bake time: metric rules, PromQL conditions and dependents' error rate hold a
batch; a failure rolls every batch back to the previous image, and the page shows what failed.

These run the engine in real time (short warm-ups and bakes) so that samples written while a batch
bakes land in its window, as an ingest's would.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from estate.inventory.choices import InstanceState
from estate.inventory.models import Image, Instance
from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState, ReplacementState
from estate.operations.models import Operation, Replacement
from estate.telemetry.models import MetricRule, Sample
from tests.factories import ImmutableComponentFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db

FAST = {"warmup_seconds": 0, "bake_seconds": 2}
SOON = 1.0  # seconds: a sample this far ahead lands inside the bake of the batch launched now


@pytest.fixture(autouse=True)
def quick_looks(settings):
    settings.OPERATIONS_POLL_SECONDS = 0.01
    settings.OPERATIONS_ANALYSIS_INTERVAL_SECONDS = 0.02


def drive(op: Operation, *, until=lambda op: False, limit: float = 30) -> Operation:
    """Run the operation in real time, sleeping to each wake-up, until it stops or `until(op)` holds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        engine.execute(op.pk)
        op.refresh_from_db()
        if until(op) or not (op.state == OperationState.RUNNING and not op.claim_token):
            return op
        time.sleep(max((op.lease_expires_at - timezone.now()).total_seconds(), 0) + 0.001)
    raise AssertionError(f"operation {op.pk} still {op.state} after {limit} s")


def roll(component, **params) -> Operation:
    return services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={**FAST, "batch_size": 2, **params}
    )


def error_rate_rule(component) -> MetricRule:
    return MetricRule.objects.create(
        component=component, metric="http_error_rate", aggregation="avg", window_seconds=300, warn=0.02, critical=0.1
    )


def sample(component, value: float, *, instance=None, name="http_error_rate", after: float = SOON) -> None:
    """A sample a moment from now: inside the window of the batch that bakes next."""
    Sample.objects.create(
        component=component, instance=instance, name=name, value=value, ts=timezone.now() + timedelta(seconds=after)
    )


def live(component):
    return Instance.objects.filter(component=component, state__in=(InstanceState.PENDING, InstanceState.RUNNING))


def test_a_breach_in_the_second_batch_rolls_every_batch_back_to_the_previous_image(client, admin_user):
    component = make_component(instances=4)
    error_rate_rule(component)
    previous = Image.objects.get(component=component, version="1.0.0")
    op = drive(roll(component, rollback=True), until=lambda op: op.progress_done >= 2)
    assert any(s.message.startswith("Batch 1: analysis passed") for s in op.steps.all())
    sample(component, 0.5, after=0.2)  # the component's error rate while batch 2 bakes

    op = drive(op)
    assert op.state == OperationState.FAILED
    assert "Batch 2: analysis failed: avg(http_error_rate) = 0.5, must be ≤ 0.1 (critical)" in op.error
    assert "Rolled back: 2 instance(s) back on image 1.0.0" in op.error
    states = dict(Replacement.objects.filter(operation=op, rollback=False).values_list("batch", "state").distinct())
    assert states == {1: ReplacementState.DONE, 2: ReplacementState.ROLLED_BACK}
    assert Replacement.objects.filter(operation=op, rollback=True, state=ReplacementState.DONE).count() == 2
    # Every batch is back: four live instances, all on the previous image, which is current again.
    assert live(component).count() == 4
    assert set(live(component).values_list("image", flat=True)) == {previous.pk}
    component.refresh_from_db()
    assert component.current_image == previous
    failed = [c for c in op.result["analysis"]["checks"] if c["verdict"] == "fail"]
    assert failed == [
        {
            "source": "rule",
            "name": "avg(http_error_rate)",
            "value": 0.5,
            "bound": "≤ 0.1 (critical)",
            "verdict": "fail",
            "note": "",
        }
    ]
    # The page shows the condition that failed with its measured value against its bound.
    client.force_login(admin_user)
    page = client.get(reverse("operation_detail", args=[op.pk])).content.decode()
    assert 'data-testid="analysis"' in page and "avg(http_error_rate)" in page and "≤ 0.1 (critical)" in page


def test_without_rollback_a_failed_analysis_fails_and_keeps_the_old_instances_of_the_batch():
    component = make_component(instances=2)
    error_rate_rule(component)
    sample(component, 0.9)
    op = drive(roll(component))
    assert op.state == OperationState.FAILED and "Batch 1: analysis failed" in op.error
    assert live(component).filter(image__version="1.0.0").count() == 2


def test_the_old_instances_sickness_does_not_fail_the_roll_that_replaces_them():
    """A heal roll: the instances being replaced report a bad error rate; the new ones are measured."""
    component = make_component(instances=2)
    error_rate_rule(component)
    for old in live(component):
        sample(component, 0.8, instance=old)
    op = drive(roll(component, rollback=True))
    assert op.state == OperationState.SUCCEEDED, op.error
    (check,) = [c for c in op.result["analysis"]["checks"] if c["name"] == "avg(http_error_rate)"]
    assert check["verdict"] == "no data"


def test_a_warning_level_value_is_shown_but_does_not_fail_the_batch():
    component = make_component(instances=2)
    error_rate_rule(component)
    sample(component, 0.05)
    op = drive(roll(component))
    assert op.state == OperationState.SUCCEEDED, op.error
    (check,) = [c for c in op.result["analysis"]["checks"] if c["name"] == "avg(http_error_rate)"]
    assert check["verdict"] == "warning" and check["value"] == pytest.approx(0.05)
    assert any("analysis passed" in s.message for s in op.steps.all())


def test_a_dependents_error_rate_rising_over_the_bound_fails_the_batch():
    component = make_component(instances=2)
    dependent = ImmutableComponentFactory(name="checkout")
    dependent.depends_on.add(component)
    sample(dependent, 0.01, after=-30)  # its baseline before the batch
    sample(dependent, 0.3)
    op = drive(roll(component, rollback=True, max_dependent_error_rate=0.1))
    assert op.state == OperationState.FAILED
    assert "http_error_rate of checkout (depends on it) = 0.3, must be ≤ 0.1 (0.01 before the batch)" in op.error
    assert "nothing else had been replaced" in op.error
    assert live(component).filter(image__version="1.0.0").count() == 2


def test_a_dependent_that_was_already_failing_as_much_does_not_blame_the_batch():
    component = make_component(instances=2)
    dependent = ImmutableComponentFactory(name="checkout")
    dependent.depends_on.add(component)
    sample(dependent, 0.4, after=-30)
    sample(dependent, 0.3)
    op = drive(roll(component, max_dependent_error_rate=0.1))
    assert op.state == OperationState.SUCCEEDED, op.error


def test_a_promql_condition_that_never_answers_fails_at_the_end_of_the_bake(settings):
    settings.PROMETHEUS_URL = ""
    component = make_component(instances=2)
    started = time.monotonic()
    op = drive(roll(component, analysis_queries=[{"query": 'rate(errors{job="$component"}[1m])', "max": 0.1}]))
    assert op.state == OperationState.FAILED
    assert time.monotonic() - started >= FAST["bake_seconds"]  # it baked before it gave up
    assert f'rate(errors{{job="{component.slug}"}}[1m]) = no data, must be ≤ 0.1' in op.error
    assert "PROMETHEUS_URL is not configured" in op.error


def test_analysis_parameters_are_checked_by_the_api(client, admin_user):
    component = make_component(instances=1)
    client.force_login(admin_user)
    url = "/api/v1/operations/"
    bad = {
        "analysis_queries": [{"query": "up", "max": 1, "min": 0}],
        "bake_seconds": -1,
        "max_dependent_error_rate": 2,
    }
    for name, value in bad.items():
        response = client.post(
            url,
            {"component": component.pk, "kind": "roll_component", "params": {name: value}},
            content_type="application/json",
        )
        assert response.status_code == 400, (name, response.content)
        assert name in str(response.json()), response.json()
    assert not Operation.objects.exists()
