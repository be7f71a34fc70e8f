from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.core.errors import ApplicationError
from estate.inventory.choices import Health, InstanceState
from estate.inventory.models import Image, Instance
from estate.operations import engine, services
from estate.operations.choices import OperationKind, OperationState, ReplacementState
from estate.operations.models import Operation, ProviderConfig, Replacement
from estate.operations.providers.sandbox import SandboxProvider
from tests.operations.conftest import make_component, run_to_end

pytestmark = pytest.mark.django_db


def start(component, **kwargs):
    kwargs.setdefault("kind", OperationKind.ROLL_COMPONENT)
    return services.operation_start(component=component, **kwargs)


def run(op) -> Operation:
    return run_to_end(op)


def live(component):
    return Instance.objects.filter(component=component, state__in=(InstanceState.PENDING, InstanceState.RUNNING))


def test_roll_replaces_every_instance_once_onto_the_current_image(component):
    olds = set(live(component).values_list("pk", flat=True))
    op = run(start(component, params={"batch_size": 2}))
    assert op.state == OperationState.SUCCEEDED, op.error
    assert (op.progress_done, op.progress_total) == (4, 4)
    assert Instance.objects.filter(pk__in=olds, state=InstanceState.TERMINATED).count() == 4
    new = live(component)
    assert new.count() == 4 and set(new.values_list("image", flat=True)) == {component.current_image_id}
    assert all(i.health == Health.HEALTHY for i in new)
    assert sorted(Replacement.objects.filter(operation=op).values_list("batch", flat=True)) == [1, 1, 2, 2]
    messages = [s.message for s in op.steps.all()]
    assert messages[-1] == "Every instance replaced." and any("health gate passed" in m for m in messages)


def test_the_task_function_runs_the_operation_eagerly(component, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        op = start(component)
    op.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED and op.attempts == 1


def test_replace_instances_replaces_only_the_named_ones(component):
    named = list(live(component).values_list("pk", flat=True)[:2])
    op = run(start(component, kind=OperationKind.REPLACE_INSTANCES, params={"instance_ids": named}))
    assert op.state == OperationState.SUCCEEDED
    assert set(Instance.objects.filter(state=InstanceState.TERMINATED).values_list("pk", flat=True)) == set(named)
    assert live(component).count() == 4


def test_max_unavailable_caps_the_batch(component):
    op = run(start(component, params={"batch_size": 4, "max_unavailable": 1}))
    assert sorted(Replacement.objects.filter(operation=op).values_list("batch", flat=True)) == [1, 2, 3, 4]


def test_a_second_delivery_of_a_finished_operation_does_nothing(component):
    op = run(start(component))
    steps = op.steps.count()
    assert engine.claim(op.pk) is None
    engine.execute(op.pk)
    assert op.steps.count() == steps and Instance.objects.filter(component=component).count() == 8


def test_only_one_worker_claims_an_operation(component):
    op = start(component)
    assert engine.claim(op.pk) is not None
    assert engine.claim(op.pk) is None


def test_a_dead_workers_operation_resumes_without_replacing_twice(component, monkeypatch):
    op = start(component, params={"batch_size": 2})
    calls = {"n": 0}
    real_terminate = SandboxProvider.terminate

    def die_in_second_batch(self, operation, instances):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing records a failure
        real_terminate(self, operation, instances)

    monkeypatch.setattr(SandboxProvider, "terminate", die_in_second_batch)
    with pytest.raises(KeyboardInterrupt):
        engine.execute(op.pk)
    op.refresh_from_db()
    assert op.state == OperationState.RUNNING and op.progress_done == 2
    assert engine.claim(op.pk) is None  # the lease still holds
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.setattr(SandboxProvider, "terminate", real_terminate)
    op = run(op)
    assert op.state == OperationState.SUCCEEDED and op.attempts == 2
    assert Instance.objects.filter(component=component).count() == 8  # four old, four new: none launched twice
    assert live(component).count() == 4


def test_a_worker_that_lost_its_lease_stops_without_touching_the_operation(component):
    op = start(component)
    token = engine.claim(op.pk)
    run_ = engine.Run(op.pk, token)
    Operation.objects.filter(pk=op.pk).update(claim_token="someone-else")
    run_.execute()
    op.refresh_from_db()
    assert op.state == OperationState.RUNNING and op.claim_token == "someone-else"


def test_cancel_stops_between_batches_and_says_so(component, monkeypatch):
    op = start(component, params={"batch_size": 1})
    real_gate = engine.Run.gate

    def cancel_during_first_batch(self, batch, number):
        if number == 1:
            services.operation_cancel(operation=self.op)
        real_gate(self, batch, number)

    monkeypatch.setattr(engine.Run, "gate", cancel_during_first_batch)
    op = run(op)
    assert op.state == OperationState.CANCELLED
    assert op.progress_done == 1  # the batch under way finished; no new batch started
    assert "Cancelled after 1 of 4 replacement(s); 3 instance(s) left as they were." in op.steps.last().message


def test_checkpoint_pauses_until_resumed(component, django_capture_on_commit_callbacks, eager_celery):
    op = run(start(component, params={"batch_size": 1, "checkpoints": [50]}))
    assert op.state == OperationState.PAUSED and op.progress_done == 2
    assert "50% checkpoint" in op.steps.last().message
    with django_capture_on_commit_callbacks(execute=True):
        services.operation_resume(operation=op)
    op.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED and op.progress_done == 4


def test_failed_health_gate_fails_the_operation_and_keeps_old_instances(component, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    op = run(start(component, params={"batch_size": 2}))
    assert op.state == OperationState.FAILED and "Batch 1" in op.error
    assert live(component).filter(image__version="1.0.0").count() == 4


def test_roll_back_terminates_the_failed_batch_and_restores_the_previous_image(component, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    previous = Image.objects.get(component=component, version="1.0.0")
    op = start(component, params={"batch_size": 2, "rollback": True})
    op = run(op)
    assert op.state == OperationState.FAILED
    assert set(Replacement.objects.filter(operation=op, batch=1).values_list("state", flat=True)) == {
        ReplacementState.ROLLED_BACK
    }
    assert live(component).count() == 4 and not live(component).filter(image__version="2.0.0").exists()
    assert any("rolled back" in s.message.lower() for s in op.steps.all())
    component.refresh_from_db()
    assert component.current_image == previous


def test_gate_times_out_when_new_instances_never_become_healthy(component):
    op = run(start(component, params={"warmup_seconds": 60, "health_timeout_seconds": 0.05}))
    assert op.state == OperationState.FAILED and "not healthy within" in op.error


def test_never_terminates_below_min_healthy_capacity(component):
    # Two other instances went down meanwhile: terminating a healthy old one would leave too few.
    olds = list(live(component))
    Instance.objects.filter(pk__in=[olds[2].pk, olds[3].pk]).update(health=Health.DOWN)
    op = run(
        start(
            component,
            kind=OperationKind.REPLACE_INSTANCES,
            params={
                "instance_ids": [olds[0].pk, olds[1].pk],
                "batch_size": 2,
                "min_healthy_percentage": 100,
                "health_timeout_seconds": 0.1,
            },
        )
    )
    assert op.state == OperationState.FAILED and "healthy capacity" in op.error
    healthy = live(component).filter(health=Health.HEALTHY).count()
    assert healthy >= 4


def test_rebuild_records_a_new_current_image(component):
    before = component.current_image_id
    op = run(start(component, kind=OperationKind.REBUILD_IMAGE))
    component.refresh_from_db()
    assert op.state == OperationState.SUCCEEDED and component.current_image_id != before
    assert op.result["image_id"] == component.current_image_id and op.result["previous_image_id"] == before
    assert component.current_image.reference.startswith("sandbox://")


def test_a_failed_rebuild_says_why(component, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    op = run(start(component, kind=OperationKind.REBUILD_IMAGE))
    assert op.state == OperationState.FAILED and "simulated failure" in op.error


def test_cancelling_before_a_worker_started_it_ends_cancelled(component):
    op = start(component)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.CANCELLING)
    Operation.objects.filter(pk=op.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    op = run(op)
    assert op.state == OperationState.CANCELLED


def test_kubernetes_cannot_replace_named_instances():
    component = make_component(provider="kubernetes")
    with pytest.raises(ApplicationError, match="cannot replace instances"):
        start(
            component, kind=OperationKind.REPLACE_INSTANCES, params={"instance_ids": [component.instances.first().pk]}
        )


def test_a_simulated_component_is_driven_by_the_sandbox_whatever_its_provider():
    component = make_component(provider="aws")
    ProviderConfig.objects.create(component=component, simulated=True)
    op = run(start(component))
    assert op.state == OperationState.SUCCEEDED, op.error
