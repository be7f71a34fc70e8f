from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from estate.core.errors import ApplicationError
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


def start(component, **kwargs):
    kwargs.setdefault("kind", OperationKind.ROLL_COMPONENT)
    return services.operation_start(component=component, **kwargs)


def test_operation_on_a_bastion_is_refused_with_the_reason(bastion):
    with pytest.raises(ApplicationError) as exc:
        start(bastion)
    assert "bastion" in exc.value.message and "patch window" in exc.value.message
    assert not Operation.objects.exists()


def test_operation_without_health_signal_is_refused():
    component = make_component(heartbeat_period_seconds=None)
    with pytest.raises(ApplicationError) as exc:
        start(component)
    assert "no health signal" in exc.value.message
    assert exc.value.errors == {"forced": [exc.value.message]}


def test_forcing_without_a_written_reason_is_refused():
    component = make_component(heartbeat_period_seconds=None)
    with pytest.raises(ApplicationError) as exc:
        start(component, forced=True, force_reason="  ")
    assert "force_reason" in exc.value.errors


def test_forced_operation_records_the_reason_and_logs_it(admin_user):
    component = make_component(heartbeat_period_seconds=None)
    op = start(component, forced=True, force_reason="telemetry agent broken, image fixes it", requested_by=admin_user)
    assert op.forced and op.force_reason == "telemetry agent broken, image fixes it"
    assert any("Forced without a health signal" in s.message for s in op.steps.all())


def test_second_active_operation_on_a_component_is_refused(component):
    start(component)
    with pytest.raises(ApplicationError) as exc:
        start(component, kind=OperationKind.REBUILD_IMAGE)
    assert exc.value.status == 409


def test_database_allows_one_active_operation_per_component(component):
    Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(component=component, kind=OperationKind.REBUILD_IMAGE, state=OperationState.RUNNING)


def test_finished_operations_do_not_hold_the_component(component):
    Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT, state=OperationState.FAILED)
    Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT, state=OperationState.SUCCEEDED)
    assert start(component).state == OperationState.QUEUED


def test_unknown_parameters_and_bad_values_are_refused(component):
    with pytest.raises(ApplicationError, match="Unknown parameter"):
        start(component, params={"batchsize": 2})
    with pytest.raises(ApplicationError, match="batch_size must be between 1 and"):
        start(component, params={"batch_size": 0})
    with pytest.raises(ApplicationError, match="between 0 and 100"):
        start(component, params={"min_healthy_percentage": 120})
    with pytest.raises(ApplicationError, match="checkpoints"):
        start(component, params={"checkpoints": [0, 150]})


def test_replacing_needs_live_instances_of_the_component(component):
    other = make_component(instances=1)
    with pytest.raises(ApplicationError, match="Name the instances"):
        start(component, kind=OperationKind.REPLACE_INSTANCES)
    with pytest.raises(ApplicationError, match="live instance of this component"):
        start(component, kind=OperationKind.REPLACE_INSTANCES, params={"instance_ids": [other.instances.get().pk]})


def test_image_must_be_the_components(component):
    other = make_component(instances=1)
    with pytest.raises(ApplicationError, match="this component's images"):
        start(component, params={"image_id": other.current_image_id})


def test_dispatch_happens_only_after_commit(component, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        op = start(component)
    assert sent == [] and callbacks
    for callback in callbacks:
        callback()
    assert sent == [op.pk]


def test_broker_down_leaves_the_operation_queued_for_the_sweep(component, monkeypatch):
    from estate.operations import tasks

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.run_operation, "apply_async", refuse)
    op = Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    assert services.dispatch(op.pk) is False
    op.refresh_from_db()
    assert op.state == OperationState.QUEUED and op.dispatched_at is not None


def test_cancel_a_queued_operation_at_once(component):
    op = start(component)
    op = services.operation_cancel(operation=op)
    assert op.state == OperationState.CANCELLED and op.finished_at


def test_cancel_a_running_operation_asks_the_worker(component):
    op = start(component)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.RUNNING)
    op = services.operation_cancel(operation=op)
    assert op.state == OperationState.CANCELLING
    assert "stops at its next poll" in op.steps.last().message


def test_cancel_a_finished_operation_is_refused(component):
    op = start(component)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.SUCCEEDED)
    with pytest.raises(ApplicationError) as exc:
        services.operation_cancel(operation=op)
    assert exc.value.status == 409


def test_resume_only_a_paused_operation(component, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    op = start(component)
    with pytest.raises(ApplicationError, match="not paused"):
        services.operation_resume(operation=op)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.PAUSED)
    with django_capture_on_commit_callbacks(execute=True):
        op = services.operation_resume(operation=op)
    assert op.state == OperationState.QUEUED and sent == [op.pk]


def test_sweep_redispatches_lost_messages_and_dead_workers(component, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    never_sent = Operation.objects.create(component=component, kind=OperationKind.ROLL_COMPONENT)
    other = make_component(instances=1)
    dead = Operation.objects.create(
        component=other,
        kind=OperationKind.ROLL_COMPONENT,
        state=OperationState.RUNNING,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    third = make_component(instances=1)
    Operation.objects.create(
        component=third,
        kind=OperationKind.ROLL_COMPONENT,
        state=OperationState.RUNNING,
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    assert sorted(services.operation_sweep()) == sorted([never_sent.pk, dead.pk])
