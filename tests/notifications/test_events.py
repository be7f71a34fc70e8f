"""The events that reach the owners: operations that fail or are cancelled, breakers that trip,
patch windows that start and end (with the owners of what depends on the patched component)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from estate.inventory.models import Instance
from estate.notifications.models import NotificationRoute
from estate.operations import engine, policies, services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import RemediationPolicy
from estate.outbox import services as outbox
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from estate.patching import services as patching
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, TeamFactory
from tests.operations.conftest import fast_operations, make_component  # noqa: F401 - an autouse fixture
from tests.patching.conftest import make_window

pytestmark = pytest.mark.django_db
ALL_EVENTS = ["operation_failed", "operation_cancelled", "breaker_tripped", "window_started", "window_ended"]


@pytest.fixture
def payments(db):
    team = TeamFactory(slug="payments")
    NotificationRoute.objects.create(name="payments", team=team, channel="email", emails="pay@example.com",
                                     events=ALL_EVENTS)  # fmt: skip
    return team


def mailed() -> list[str]:
    """Send what the outbox holds, as a worker would, and return the subjects that went out."""
    states = [outbox.outbox_deliver(pk) for pk in outbox.outbox_due()]
    assert set(states) <= {MessageState.SENT}
    return [m.subject for m in mail.outbox]


def test_a_failed_operation_tells_its_team_once(payments, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    component = make_component(team=payments)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    engine.execute(op.pk)
    engine.execute(op.pk)  # a duplicate wake-up of a finished operation says nothing twice
    op.refresh_from_db()
    assert op.state == OperationState.FAILED
    [subject] = mailed()
    assert subject == f"Roll component of {component.name} failed"
    assert f"/operations/{op.pk}/" in mail.outbox[0].body


def test_a_cancelled_operation_tells_its_team(payments):
    component = make_component(team=payments)
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
    services.operation_cancel(operation=op)
    assert mailed() == [f"Roll component of {component.name} was cancelled"]


def test_a_successful_operation_tells_nobody(payments):
    op = services.operation_start(component=make_component(team=payments), kind=OperationKind.ROLL_COMPONENT)
    engine.execute(op.pk)
    assert not OutboxMessage.objects.exists()


def test_another_teams_operation_is_not_this_teams_business(payments):
    op = services.operation_start(component=make_component(), kind=OperationKind.ROLL_COMPONENT)
    services.operation_cancel(operation=op)
    assert mailed() == []


def test_a_tripped_breaker_tells_its_team(payments, settings):
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 1.0
    component = make_component(team=payments)
    RemediationPolicy.objects.create(component=component, replace_tainted=True, breaker_threshold=2,
                                     budget_per_hour=100)  # fmt: skip
    for _ in range(2):
        Instance.objects.filter(component=component, state="running").update(tainted=True, taint_reason="x")
        for op_id in policies.evaluate_all():
            engine.execute(op_id)
    subjects = mailed()
    assert f"Remediation of {component.name} stopped: circuit breaker open" in subjects
    assert sum("circuit breaker" in s for s in subjects) == 1


def test_a_window_tells_its_team_and_the_owners_of_its_dependents_when_it_starts_and_ends(db):
    web = TeamFactory(slug="web")
    NotificationRoute.objects.create(name="web", team=web, channel="email", emails="web@example.com",
                                     events=["window_started", "window_ended"])  # fmt: skip
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    database = BastionComponentFactory()
    ImmutableComponentFactory(team=web).depends_on.add(database)
    window = make_window([database], start, title="Orders patch")
    occurrence = patching.occurrence_start(occurrence=patching.occurrence_materialise(window, start))
    patching.occurrence_close(occurrence=occurrence)
    subjects = mailed()
    assert subjects == ["Patch window “Orders patch” started", "Patch window “Orders patch” ended (completed)"]
    assert "Expected impact" in mail.outbox[0].body
