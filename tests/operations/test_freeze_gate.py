"""One calendar gates every change (issue 12): operations and policies refuse to start on a component
in a change freeze; an admin may force one through with a written reason, which is recorded."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from estate.audit.choices import AuditAction
from estate.audit.models import AuditEvent
from estate.core.errors import ApplicationError
from estate.inventory.choices import Health
from estate.operations import policies, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation, RemediationPolicy
from estate.patching.choices import FreezeScope
from estate.patching.models import ChangeFreeze
from tests.factories import EnvironmentFactory, ImageFactory, SystemFactory
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db

URL = "/api/v1/operations/"
# Black Friday week: the freeze holds from Friday to Monday night.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
FREEZE_START, FREEZE_END = datetime(2026, 11, 27, 0, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
REFUSAL = "cart-api is in the change freeze “Black Friday” until 2026-11-30 23:00 UTC"


@pytest.fixture(autouse=True)
def black_friday(time_machine):
    time_machine.move_to(NOW, tick=True)


@pytest.fixture
def dispatched(monkeypatch):
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    return sent


@pytest.fixture
def cart_api(db):
    return make_component(name="cart-api")


def freeze(**scope) -> ChangeFreeze:
    return ChangeFreeze.objects.create(
        name="Black Friday", reason="Peak sales", start=FREEZE_START, end=FREEZE_END, **scope
    )


def as_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def roll(client, component, **body):
    return client.post(URL, {"kind": "roll_component", "component": component.pk, **body}, format="json")


# --- refusals -------------------------------------------------------------------------------------


def test_a_roll_in_a_change_freeze_is_refused_409_naming_the_freeze_and_its_end(api, cart_api, dispatched):
    freeze()
    response = roll(api, cart_api)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["detail"].startswith(REFUSAL) and "An admin may force" in body["detail"]
    assert body["errors"]["component"] == [body["detail"]]
    assert not Operation.objects.exists() and dispatched == []


def test_the_operation_form_shows_the_freeze_and_its_refusal(client, operator, cart_api, dispatched):
    freeze(scope=FreezeScope.SYSTEM, system=cart_api.system)
    client.force_login(operator)
    page = client.get(cart_api.get_absolute_url()).content.decode()
    assert 'data-testid="freeze-note"' in page and REFUSAL in page
    response = client.post(reverse("operation_create", args=[cart_api.pk]), {"kind": "roll_component"}, follow=True)
    assert REFUSAL in response.content.decode()
    assert not Operation.objects.exists()


def test_a_rebuild_in_an_environment_freeze_is_refused(cart_api):
    freeze(scope=FreezeScope.ENVIRONMENT, environment=cart_api.environment)
    with pytest.raises(ApplicationError) as exc:
        services.operation_start(component=cart_api, kind=OperationKind.REBUILD_IMAGE)
    assert exc.value.status == 409 and exc.value.message.startswith(REFUSAL)
    assert not Operation.objects.exists()


def test_a_freeze_on_another_environment_or_system_does_not_block(api, cart_api, dispatched):
    freeze(scope=FreezeScope.ENVIRONMENT, environment=EnvironmentFactory(slug="staging", name="Staging"))
    freeze(scope=FreezeScope.SYSTEM, system=SystemFactory())
    response = roll(api, cart_api)
    assert response.status_code == 202, response.json()


def test_a_freeze_that_has_ended_does_not_block(api, cart_api, dispatched, time_machine):
    freeze()
    time_machine.move_to(FREEZE_END, tick=True)
    assert roll(api, cart_api).status_code == 202


# --- forcing ---------------------------------------------------------------------------------------


def test_an_admin_forces_through_a_freeze_with_a_reason_recorded_as_change_forced(
    client, estate_admin, cart_api, dispatched, django_capture_on_commit_callbacks
):
    freezing = freeze()
    with django_capture_on_commit_callbacks(execute=True):
        response = roll(as_client(estate_admin), cart_api, forced=True, force_reason="CVE-2026-9999 hotfix")
    assert response.status_code == 202, response.json()
    operation = Operation.objects.get()
    assert operation.state == OperationState.QUEUED and dispatched == [operation.pk]
    event = AuditEvent.objects.get(action=AuditAction.CHANGE_FORCED)
    assert event.object_id == str(operation.pk) and event.actor == "estate-admin"
    assert event.changes == {
        "freeze": {"id": freezing.pk, "name": "Black Friday", "end": FREEZE_END.isoformat()},
        "force_reason": "CVE-2026-9999 hotfix",
    }
    assert "CVE-2026-9999 hotfix" in event.message
    # It has a health signal: nothing else was forced.
    assert not AuditEvent.objects.filter(action=AuditAction.OPERATION_FORCED).exists()
    client.force_login(estate_admin)
    page = client.get(operation.get_absolute_url()).content.decode()
    assert "Forced through the change freeze “Black Friday” (until 2026-11-30 23:00 UTC)" in page
    assert "CVE-2026-9999 hotfix" in page


def test_an_operator_cannot_force_through_a_freeze(operator, cart_api, dispatched):
    freeze()
    response = roll(as_client(operator), cart_api, forced=True, force_reason="I am sure")
    assert response.status_code == 403, response.json()
    assert response.json()["detail"].startswith("Only an admin may force a change during a change freeze.")
    assert REFUSAL in response.json()["detail"]
    assert not Operation.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.CHANGE_FORCED).exists()


def test_an_operator_in_the_form_is_told_only_an_admin_may_force(client, operator, cart_api, dispatched):
    freeze()
    client.force_login(operator)
    response = client.post(
        reverse("operation_create", args=[cart_api.pk]),
        {"kind": "roll_component", "forced": "on", "force_reason": "I am sure"},
        follow=True,
    )
    assert "Only an admin may force a change during a change freeze." in response.content.decode()
    assert not Operation.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_admin_force_needs_a_written_reason(api, cart_api, reason):
    freeze()
    response = roll(api, cart_api, forced=True, force_reason=reason)
    assert response.status_code == 400 and "force_reason" in response.json()["errors"]
    assert not Operation.objects.exists()


def test_a_force_reason_is_bounded(admin_user, cart_api):
    freeze()
    with pytest.raises(ApplicationError) as exc:
        services.operation_start(
            component=cart_api, kind=OperationKind.ROLL_COMPONENT, forced=True, force_reason="x" * 501,
            requested_by=admin_user,
        )  # fmt: skip
    assert exc.value.status == 400 and "500 characters" in exc.value.errors["force_reason"][0]
    response = roll(as_client(admin_user), cart_api, forced=True, force_reason="x" * 501)
    assert response.status_code == 400 and "force_reason" in response.json()["errors"]


def test_a_script_without_a_person_cannot_force_through_a_freeze(cart_api):
    freeze()
    with pytest.raises(ApplicationError) as exc:
        services.operation_start(
            component=cart_api, kind=OperationKind.ROLL_COMPONENT, forced=True, force_reason="pipeline"
        )
    assert exc.value.status == 403


# --- policies --------------------------------------------------------------------------------------


@pytest.fixture
def no_dispatch(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda operation_id: None)


def test_a_policy_skips_a_frozen_component_and_says_so(cart_api, no_dispatch, caplog):
    RemediationPolicy.objects.create(component=cart_api, replace_tainted=True)
    cart_api.instances.update(tainted=True, taint_reason="apt upgrade")
    freeze(scope=FreezeScope.SYSTEM, system=cart_api.system)
    with caplog.at_level(logging.INFO, logger="estate.operations.policies"):
        assert policies.evaluate_all() == []
    assert not Operation.objects.exists()
    assert any(REFUSAL in r.getMessage() for r in caplog.records)


def test_a_frozen_policy_counts_nothing_towards_its_breaker(cart_api, no_dispatch, time_machine):
    policy = RemediationPolicy.objects.create(component=cart_api, replace_unhealthy_after_minutes=5)
    long_ago = timezone.now() - timedelta(hours=2)
    cart_api.instances.update(health=Health.DOWN, last_seen_at=long_ago, launched_at=long_ago)
    # A remediation that just finished: without the freeze, instances down again would count a failure.
    Operation.objects.create(
        component=cart_api, kind=OperationKind.REPLACE_INSTANCES, policy="replace_unhealthy",
        state=OperationState.SUCCEEDED, finished_at=timezone.now(),
    )  # fmt: skip
    freeze()
    assert policies.evaluate_all() == []
    policy.refresh_from_db()
    assert policy.failed_remediations == 0 and Operation.objects.count() == 1


def test_a_new_image_during_a_freeze_is_rolled_once_the_freeze_ends(cart_api, no_dispatch, time_machine):
    policy = RemediationPolicy.objects.create(component=cart_api, roll_on_new_image=True)
    policy.rolled_image = cart_api.current_image
    policy.save()
    freeze()
    cart_api.current_image = ImageFactory(component=cart_api, version="3.0.0")
    cart_api.save()
    assert policies.evaluate_all() == []
    time_machine.move_to(FREEZE_END + timedelta(minutes=1), tick=True)
    [operation_id] = policies.evaluate_all()
    assert Operation.objects.get(pk=operation_id).kind == OperationKind.ROLL_COMPONENT


def test_a_paused_operation_is_not_resumed_into_a_freeze(cart_api, dispatched, time_machine):
    time_machine.move_to(FREEZE_START - timedelta(days=1), tick=True)
    op = services.operation_start(component=cart_api, kind=OperationKind.ROLL_COMPONENT)
    Operation.objects.filter(pk=op.pk).update(state=OperationState.PAUSED)
    freeze()
    time_machine.move_to(NOW, tick=True)
    with pytest.raises(ApplicationError) as refused:
        services.operation_resume(operation=op)
    assert refused.value.status == 409 and REFUSAL in refused.value.message
    assert Operation.objects.get(pk=op.pk).state == OperationState.PAUSED
    time_machine.move_to(FREEZE_END + timedelta(minutes=1), tick=True)
    assert services.operation_resume(operation=op).state == OperationState.QUEUED
