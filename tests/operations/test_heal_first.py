"""Heal first: a roll works best exactly when a component is sick (issue 12).

The old engine replaced instances oldest first and counted every desired instance as capacity, so a
roll of a component with one down instance replaced a healthy one, then refused to retire it
("terminating more would drop healthy capacity under 3"); a roll of a component with no instances
"succeeded, 0 of 0". Now: tainted and down instances go first, then degraded and unknown ones, then
healthy ones; only healthy instances count as capacity; a roll launches what is missing to reach the
desired count; a component that wants no instances and has none is refused.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.core.errors import ApplicationError
from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Instance
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState, ReplacementState
from estate.operations.models import Replacement
from tests.factories import ImageFactory, ImmutableComponentFactory, InstanceFactory
from tests.operations.conftest import make_component, run_to_end

pytestmark = pytest.mark.django_db


def roll(component, **params):
    params.setdefault("batch_size", 1)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params=params)
    return run_to_end(op)


def live(component):
    return Instance.objects.filter(component=component, state__in=(InstanceState.PENDING, InstanceState.RUNNING))


def set_health(instance, health, **extra):
    Instance.objects.filter(pk=instance.pk).update(health=health, **extra)


def olds_in_order(op) -> list[str]:
    reps = Replacement.objects.filter(operation=op).select_related("old_instance").order_by("batch", "pk")
    return [r.old_instance.external_id if r.old_instance else "(missing)" for r in reps]


def test_a_roll_with_one_down_instance_replaces_the_down_one_first_and_succeeds():
    component = make_component(instances=3)  # desired 3, min_healthy_percentage 100 by default
    down = component.instances.order_by("-external_id").first()  # the newest: oldest-first would take it last
    set_health(down, Health.DOWN, health_reason="no heartbeat")
    op = roll(component, health_timeout_seconds=5)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert olds_in_order(op)[0] == down.external_id
    assert op.steps.filter(message__contains="the 1 tainted or unhealthy first").exists()
    assert live(component).count() == 3
    assert set(live(component).values_list("image", flat=True)) == {component.current_image_id}
    assert all(i.health == Health.HEALTHY for i in live(component))


def test_a_roll_of_a_component_with_no_instances_launches_its_desired_count():
    component = make_component(instances=0)
    type(component).objects.filter(pk=component.pk).update(desired_instances=3)
    component.refresh_from_db()
    op = roll(component)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert (op.progress_done, op.progress_total) == (3, 3)
    assert live(component).filter(health=Health.HEALTHY, image=component.current_image).count() == 3
    assert set(Replacement.objects.filter(operation=op).values_list("old_instance", flat=True)) == {None}
    messages = [s.message for s in op.steps.all()]
    assert any("launch 3 missing instance(s) first to reach the desired 3" in m for m in messages)
    assert messages[-1] == "Every instance replaced (0), and 3 launched to reach the desired 3."


def test_a_roll_tops_a_component_up_to_its_desired_count_before_replacing():
    component = make_component(instances=2)
    type(component).objects.filter(pk=component.pk).update(desired_instances=3)
    component.refresh_from_db()
    op = roll(component)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert olds_in_order(op)[0] == "(missing)"  # adds capacity first, so no healthy old one must wait
    assert live(component).count() == 3 and not live(component).exclude(image=component.current_image).exists()


def test_a_replace_of_named_instances_launches_nothing_missing():
    component = make_component(instances=2)
    type(component).objects.filter(pk=component.pk).update(
        desired_instances=3,
    )
    named = [component.instances.first().pk]
    op = services.operation_start(
        component=component,
        kind=OperationKind.REPLACE_INSTANCES,
        params={"instance_ids": named, "min_healthy_percentage": 50},
    )
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert op.progress_total == 1 and live(component).count() == 2


def test_a_degraded_component_can_be_rolled_and_the_gate_wants_its_new_instances_healthy():
    """Every instance degraded: none counts as healthy capacity, so each may go once its replacement
    passed the gate, and the gate asks of a new instance what it always asks: healthy, not degraded."""
    component = make_component(instances=3)
    for instance in component.instances.all():
        set_health(instance, Health.DEGRADED, health_reason="late")
    op = roll(component)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert live(component).count() == 3 and all(i.health == Health.HEALTHY for i in live(component))


def test_a_new_instance_that_stays_degraded_does_not_pass_the_gate(monkeypatch):
    from estate.operations.providers.sandbox import SandboxProvider

    component = make_component(instances=1)

    def boots_degraded(self, operation, instances):
        Instance.objects.filter(pk__in=[i.pk for i in instances]).update(
            state=InstanceState.RUNNING, health=Health.DEGRADED
        )

    monkeypatch.setattr(SandboxProvider, "refresh", boots_degraded)
    op = roll(component, health_timeout_seconds=2)
    assert op.state == OperationState.FAILED and "not healthy within 2 s" in op.error
    assert live(component).filter(image__version="1.0.0").count() == 1  # the old one kept


def test_the_plan_takes_tainted_and_down_first_then_degraded_and_unknown_then_healthy_then_oldest():
    component = ImmutableComponentFactory(desired_instances=6)
    component.current_image = ImageFactory(component=component, version="2")
    component.save()
    now = timezone.now()
    spec = [  # name, health, tainted, launched days ago
        ("healthy-old", Health.HEALTHY, False, 9),
        ("healthy-new", Health.HEALTHY, False, 1),
        ("unknown", Health.UNKNOWN, False, 2),
        ("degraded", Health.DEGRADED, False, 3),
        ("tainted", Health.HEALTHY, True, 1),
        ("down", Health.DOWN, False, 5),
    ]
    for name, health, tainted, days in spec:
        InstanceFactory(
            component=component,
            external_id=name,
            state=InstanceState.RUNNING,
            health=health,
            tainted=tainted,
            taint_reason="sshd login" if tainted else "",
            launched_at=now - timedelta(days=days),
        )
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    from estate.operations import engine

    run_ = engine.Run(op.pk, engine.claim(op.pk))
    run_.plan()
    planned = [r.old_instance.external_id for r in Replacement.objects.filter(operation=op).order_by("pk")]
    assert planned == ["down", "tainted", "degraded", "unknown", "healthy-old", "healthy-new"]
    assert set(Replacement.objects.filter(operation=op).values_list("state", flat=True)) == {ReplacementState.PENDING}


def test_a_component_that_wants_no_instances_and_has_none_is_refused_with_the_reason():
    component = make_component(instances=0)
    with pytest.raises(ApplicationError) as refused:
        services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    assert "wants no instances" in str(refused.value) and "set desired_instances" in str(refused.value)
    assert refused.value.status == 400 and "desired_instances" in refused.value.errors
    assert not component.operations.exists()
