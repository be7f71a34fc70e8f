"""Operations started, forced, cancelled and resumed; occurrences acted on."""

from __future__ import annotations

import pytest
from django.urls import reverse

from estate.audit.choices import AuditAction
from estate.operations import services
from estate.operations.choices import OperationState
from estate.operations.models import Operation
from tests.audit.conftest import events, only_event
from tests.operations.conftest import make_component


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
