"""Operations started, forced, cancelled and resumed; occurrences acted on."""

from __future__ import annotations

import pytest
from django.urls import reverse

from estate.audit.choices import AuditAction
from estate.operations import engine, policies, services
from estate.operations.choices import OperationState
from estate.operations.models import Operation, RemediationPolicy
from tests.audit.conftest import events, only_event
from tests.operations.conftest import make_component, run_to_end


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda operation_id: True)


def test_operation_started_in_the_browser_records_kind_params_and_reason(client, admin_user):
    component = make_component()
    client.force_login(admin_user)
    client.post(reverse("operation_create", args=[component.pk]), {"kind": "rebuild_image", "reason": "CVE-2027-1"})
    operation = Operation.objects.get()
    event = only_event(action=AuditAction.OPERATION_STARTED)
    assert (event.object_type, event.object_id) == ("operations.operation", str(operation.pk))
    assert event.changes["kind"] == "rebuild_image"
    assert event.changes["reason"] == "CVE-2027-1"
    assert event.changes["component"] == component.pk
    assert (event.actor, event.via) == ("admin", "session")
    assert event.message == "CVE-2027-1"


def test_operation_started_through_the_api_records_its_params(api):
    component = make_component()
    body = {"component": component.pk, "kind": "roll_component", "params": {"batch_size": 2}, "reason": "new image"}
    assert api.post("/api/v1/operations/", body, format="json").status_code == 202
    event = only_event(action=AuditAction.OPERATION_STARTED)
    assert event.changes["params"] == {"batch_size": 2}
    assert not events(action=AuditAction.OPERATION_FORCED)


def test_forced_operation_records_the_force_and_its_reason(admin_user):
    component = make_component(heartbeat_period_seconds=None)
    operation = services.operation_start(
        component=component, kind="rebuild_image", requested_by=admin_user, forced=True, force_reason="Agent broken"
    )
    started = only_event(action=AuditAction.OPERATION_STARTED)
    forced = only_event(action=AuditAction.OPERATION_FORCED)
    assert started.object_id == forced.object_id == str(operation.pk)
    assert forced.changes == {"forced": True, "force_reason": "Agent broken"}
    assert forced.message == "Agent broken"


def test_refused_operation_records_nothing(admin_user):
    component = make_component(heartbeat_period_seconds=None)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the refusal itself is tested in tests/operations
        services.operation_start(component=component, kind="rebuild_image", requested_by=admin_user)
    assert not events()


def test_cancel_in_the_browser_is_recorded(client, admin_user):
    operation = services.operation_start(component=make_component(), kind="rebuild_image")
    client.force_login(admin_user)
    client.post(reverse("operation_cancel", args=[operation.pk]))
    event = only_event(action=AuditAction.OPERATION_CANCELLED)
    assert event.changes == {"state": [OperationState.QUEUED, OperationState.CANCELLED]}
    assert event.actor == "admin"


def test_cancel_of_a_running_operation_is_recorded_as_cancelling(api):
    operation = services.operation_start(component=make_component(), kind="rebuild_image")
    Operation.objects.filter(pk=operation.pk).update(state=OperationState.RUNNING)
    assert api.post(f"/api/v1/operations/{operation.pk}/cancel/").status_code == 202
    event = only_event(action=AuditAction.OPERATION_CANCELLED)
    assert event.changes == {"state": [OperationState.RUNNING, OperationState.CANCELLING]}


def test_refused_cancel_records_nothing(api):
    operation = services.operation_start(component=make_component(), kind="rebuild_image")
    Operation.objects.filter(pk=operation.pk).update(state=OperationState.SUCCEEDED)
    assert api.post(f"/api/v1/operations/{operation.pk}/cancel/").status_code == 409
    assert not events(action=AuditAction.OPERATION_CANCELLED)


def test_started_by_a_policy_outside_a_request_is_the_system(db):
    operation = services.operation_start(component=make_component(), kind="rebuild_image", policy="rebuild")
    event = only_event(action=AuditAction.OPERATION_STARTED)
    assert (event.actor, event.via, event.object_id) == ("system", "worker", str(operation.pk))
    assert event.changes["policy"] == "rebuild"


def _current_image_changes(component) -> list:
    return events(action=AuditAction.CHANGE, object_type="inventory.component", object_id=str(component.pk))


def test_a_rebuild_records_the_new_current_image_as_the_worker_acting_for_who_asked(admin_user, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 0
    component = make_component()
    before = component.current_image_id
    operation = services.operation_start(component=component, kind="rebuild_image", requested_by=admin_user)
    engine.execute(operation.pk)
    component.refresh_from_db()
    [event] = _current_image_changes(component)
    assert event.changes == {"current_image": [before, component.current_image_id]}
    assert (event.actor, event.actor_id, event.via) == ("worker", admin_user.pk, "worker")
    assert f"operation #{operation.pk}" in event.message


def test_a_roll_back_records_the_previous_image_becoming_current_again(db, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    settings.OPERATIONS_POLL_SECONDS = 0.01
    component = make_component()
    new, previous = component.current_image_id, component.instances.first().image_id
    operation = services.operation_start(component=component, kind="roll_component", params={"rollback": True})
    run_to_end(operation)  # through the warm-up's wake-ups
    [event] = _current_image_changes(component)
    assert event.changes == {"current_image": [new, previous]}
    assert (event.actor, event.actor_id) == ("worker", None)


def test_a_policy_records_what_it_starts_and_what_its_operation_changes_as_the_policy(db, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 0
    component = make_component()
    policy = RemediationPolicy.objects.create(component=component, rebuild_every_days=1)
    operation = policies.evaluate(policy)
    started = only_event(action=AuditAction.OPERATION_STARTED)
    assert (started.actor, started.via, started.object_id) == (f"policy:{component.slug}", "worker", str(operation.pk))
    engine.execute(operation.pk)
    [event] = _current_image_changes(component)
    assert event.actor == f"policy:{component.slug}" and list(event.changes) == ["current_image"]


def test_a_roll_records_every_launch_and_state_change_of_its_instances(admin_user, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 0
    component = make_component(instances=2)
    olds = set(component.instances.values_list("pk", flat=True))
    operation = services.operation_start(
        component=component, kind="roll_component", params={"warmup_seconds": 0}, requested_by=admin_user
    )
    engine.execute(operation.pk)
    news = set(component.instances.exclude(pk__in=olds).values_list("pk", flat=True))
    created = events(action=AuditAction.CREATE, object_type="inventory.instance")
    assert {int(e.object_id) for e in created} == news
    assert all(e.changes["state"] == "pending" and e.changes["image"] == component.current_image_id for e in created)
    changed = events(action=AuditAction.CHANGE, object_type="inventory.instance")
    states = {(int(e.object_id), tuple(e.changes["state"])) for e in changed}
    assert states == {(pk, ("pending", "running")) for pk in news} | {(pk, ("running", "terminated")) for pk in olds}
    assert {(e.actor, e.actor_id) for e in created + changed} == {("worker", admin_user.pk)}
    assert all(f"operation #{operation.pk}" in e.message for e in created + changed)
