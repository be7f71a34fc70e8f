"""Who asked for an operation, worded the same on every page; and scaling a component from its page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from estate.access.models import ApiToken
from estate.audit.models import AuditEvent
from estate.inventory.models import Component
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation
from tests.conftest import token_client
from tests.html_text import parse
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


def _requesters(html: bytes) -> list[str]:
    return [el.text for el in parse(html).find_all(data_testid="requester")]


def _finish(op: Operation) -> None:
    Operation.objects.filter(pk=op.pk).update(state=OperationState.SUCCEEDED)


def test_requester_is_worded_the_same_on_the_list_the_page_and_the_panel(client, admin_user, component):
    by_admin = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, requested_by=admin_user)
    _finish(by_admin)
    by_policy = services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, policy="replace_tainted"
    )
    _finish(by_policy)
    response = token_client(admin_user).post(
        "/api/v1/operations/", {"component": component.pk, "kind": "roll_component"}, format="json"
    )
    assert response.status_code in (201, 202), response.content
    by_script = Operation.objects.get(pk=response.json()["id"])
    token = ApiToken.objects.get(user=admin_user)
    expected = {
        by_admin.pk: "admin",
        by_policy.pk: "policy replace_tainted",
        by_script.pk: f"a script (token {token.name})",
    }

    client.force_login(admin_user)
    newest_first = [expected[pk] for pk in sorted(expected, reverse=True)]
    assert _requesters(client.get(reverse("operation_list")).content) == newest_first
    assert _requesters(client.get(component.get_absolute_url()).content) == newest_first
    for pk, label in expected.items():
        assert _requesters(client.get(reverse("operation_detail", args=[pk])).content) == [label]
    panel = client.get(reverse("component_operations", args=[component.pk])).content
    assert _requesters(panel) == newest_first
    assert AuditEvent.objects.filter(object_id=str(by_script.pk), via=f"token:{token.name}").exists()


def test_scale_up_records_the_count_and_rolls_to_reach_it(client, admin_user):
    component = make_component(instances=2)
    client.force_login(admin_user)
    response = client.post(reverse("component_scale", args=[component.pk]), {"desired_instances": "4", "roll": "on"})

    op = Operation.objects.get(component=component)
    assert response.status_code == 302 and response["Location"] == op.get_absolute_url()
    assert op.kind == OperationKind.ROLL_COMPONENT and op.reason == "Scale to 4 instances"
    assert Component.objects.get(pk=component.pk).desired_instances == 4
    change = AuditEvent.objects.get(object_type="inventory.component", object_id=str(component.pk), action="change")
    assert change.changes == {"desired_instances": [2, 4]} and change.actor == "admin"


def test_scale_without_roll_or_down_only_changes_the_count(client, admin_user):
    component = make_component(instances=3)
    client.force_login(admin_user)
    client.post(reverse("component_scale", args=[component.pk]), {"desired_instances": "5"})
    assert Component.objects.get(pk=component.pk).desired_instances == 5
    response = client.post(
        reverse("component_scale", args=[component.pk]), {"desired_instances": "1", "roll": "on"}, follow=True
    )
    assert Component.objects.get(pk=component.pk).desired_instances == 1
    assert not Operation.objects.exists()  # a roll takes nothing away: no roll started for a lower count
    assert "retire the extra 2 yourself" in response.content.decode()


@pytest.mark.parametrize("value", ["-1", "abc", "10001", ""])
def test_bad_count_is_refused_with_the_field_and_changes_nothing(client, admin_user, value):
    component = make_component(instances=2)
    client.force_login(admin_user)
    response = client.post(reverse("component_scale", args=[component.pk]), {"desired_instances": value}, follow=True)
    assert response.status_code == 200
    assert "desired_instances:" in response.content.decode()
    assert Component.objects.get(pk=component.pk).desired_instances == 2
    assert not Operation.objects.exists()


def test_viewer_and_operator_cannot_scale(client, viewer, operator, component):
    for user in (viewer, operator):
        client.force_login(user)
        assert 'data-testid="scale"' not in client.get(component.get_absolute_url()).content.decode()
        response = client.post(reverse("component_scale", args=[component.pk]), {"desired_instances": "9"})
        assert response.status_code == 403
    assert Component.objects.get(pk=component.pk).desired_instances == 4
