"""A component (or an instance being replaced) with an operation in progress cannot be deleted: the
operation, or its record of the replacement, would vanish with it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.inventory.models import Component
from estate.operations import services
from estate.operations.choices import ACTIVE_STATES, OperationKind, OperationState, ReplacementState
from estate.operations.models import Operation, Replacement
from tests.factories import InstanceFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda operation_id: True)


def operation_in(state: str) -> Operation:
    op = services.operation_start(component=make_component(), kind=OperationKind.ROLL_COMPONENT)
    Operation.objects.filter(pk=op.pk).update(state=state)
    op.refresh_from_db()
    return op


@pytest.mark.parametrize("state", ACTIVE_STATES)
def test_the_api_refuses_to_delete_a_component_with_an_active_operation(api, state):
    op = operation_in(state)
    reply = api.delete(f"/api/v1/components/{op.component_id}/")
    assert reply.status_code == 409, reply.content
    detail = reply.json()["detail"]
    assert op.component.name in detail and f"roll component #{op.pk}" in detail
    assert op.get_state_display().lower() in detail
    assert Component.objects.filter(pk=op.component_id).exists() and Operation.objects.filter(pk=op.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.DELETE).exists()


@pytest.mark.parametrize("state", [OperationState.SUCCEEDED, OperationState.FAILED, OperationState.CANCELLED])
def test_a_component_whose_operations_are_finished_can_be_deleted(api, state):
    op = operation_in(state)
    assert api.delete(f"/api/v1/components/{op.component_id}/").status_code == 204
    assert not Component.objects.filter(pk=op.component_id).exists()


def test_the_delete_button_says_why_on_the_page_instead_of_failing(client, admin_user):
    op = operation_in(OperationState.RUNNING)
    client.force_login(admin_user)
    reply = client.post(reverse("component_delete", args=[op.component_id]), follow=True)
    assert reply.status_code == 200
    assert reply.redirect_chain[-1][0] == op.component.get_absolute_url()
    assert "is part of an operation in progress" in reply.content.decode()
    assert Component.objects.filter(pk=op.component_id).exists()


def test_the_api_refuses_to_delete_an_instance_an_active_operation_replaces_or_launched(api):
    op = operation_in(OperationState.RUNNING)
    old = op.component.instances.first()
    new = InstanceFactory(component=op.component, external_id="new-1")
    Replacement.objects.create(operation=op, old_instance=old, new_instance=new, state=ReplacementState.LAUNCHED)
    for instance in (old, new):
        reply = api.delete(f"/api/v1/instances/{instance.pk}/")
        assert reply.status_code == 409, reply.content
        assert (
            f"{instance.external_id} is part of an operation in progress (roll component #{op.pk}"
            in (reply.json()["detail"])
        )
    Operation.objects.filter(pk=op.pk).update(state=OperationState.CANCELLED)
    assert api.delete(f"/api/v1/instances/{new.pk}/").status_code == 204


def test_the_admin_site_refuses_the_same_delete_and_says_why(client, admin_user):
    op = operation_in(OperationState.RUNNING)
    client.force_login(admin_user)
    url = f"/admin/inventory/component/{op.component_id}/delete/"
    reply = client.post(url, {"post": "yes"}, follow=True)
    assert reply.status_code == 200
    assert "is part of an operation in progress" in reply.content.decode()
    assert Component.objects.filter(pk=op.component_id).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.DELETE).exists()


def test_a_delete_in_the_admin_site_is_recorded_once(client, admin_user):
    op = operation_in(OperationState.SUCCEEDED)
    client.force_login(admin_user)
    reply = client.post(f"/admin/inventory/component/{op.component_id}/delete/", {"post": "yes"})
    assert reply.status_code == 302
    assert not Component.objects.filter(pk=op.component_id).exists()
    deleted = AuditEvent.objects.filter(action=AuditAction.DELETE, object_type="inventory.component")
    assert deleted.count() == 1 and deleted.get().actor == admin_user.username
