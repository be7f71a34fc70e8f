from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.celery import app as celery_app
from estate.inventory.choices import Health, InstanceState
from estate.operations import engine
from estate.operations.choices import OperationState
from estate.operations.models import Operation
from estate.operations.providers import webhook
from estate.outbox import services as outbox
from estate.outbox.models import OutboxMessage
from tests.factories import BastionComponentFactory, ImageFactory, ImmutableComponentFactory, InstanceFactory


@pytest.fixture(autouse=True)
def fast_operations(settings):
    settings.OPERATIONS_POLL_SECONDS = 0.01
    settings.OPERATIONS_DEFAULT_WARMUP_SECONDS = 0
    settings.OPERATIONS_DEFAULT_HEALTH_TIMEOUT_SECONDS = 2
    settings.OPERATIONS_SANDBOX_FAILURE_RATE = 0


@pytest.fixture
def eager_celery():
    """Run dispatched tasks in the test process (queue semantics are tested with a real worker)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def make_component(*, instances: int = 4, **kwargs):
    """An immutable sandbox component with a current image and healthy live instances on it."""
    component = ImmutableComponentFactory(desired_instances=instances, **kwargs)
    old = ImageFactory(component=component, version="1.0.0")
    new = ImageFactory(component=component, version="2.0.0")
    component.current_image = new
    component.save()
    for n in range(instances):
        InstanceFactory(
            component=component,
            external_id=f"{component.slug}-i{n}",
            image=old,
            state=InstanceState.RUNNING,
            health=Health.HEALTHY,
        )
    return component


@pytest.fixture
def component(db):
    return make_component()


@pytest.fixture
def bastion(db):
    return BastionComponentFactory()


def deliver_webhook_requests() -> list[str]:
    """What an outbox worker would do now for the webhook provider's requests: send those that are due."""
    due = OutboxMessage.objects.filter(pk__in=outbox.outbox_due(), kind=webhook.REQUEST)
    return [outbox.outbox_deliver(pk) for pk in due.order_by("pk").values_list("pk", flat=True)]


def run_to_end(op: Operation, *, max_turns: int = 2000) -> Operation:
    """Execute the operation, then wake it each time it snoozes, until it stops (finished, paused, or held
    by someone else). The clock is moved to each wake-up instead of sleeping; a short real pause lets a
    peer on loopback (a CI/CD's callback) answer meanwhile. Before each wake-up the webhook requests due
    in the outbox are sent, as its worker would."""
    with time_machine.travel(timezone.now(), tick=True) as clock:
        for _ in range(max_turns):
            deliver_webhook_requests()
            engine.execute(op.pk)
            op.refresh_from_db()
            waiting = op.state in (OperationState.RUNNING, OperationState.CANCELLING) and not op.claim_token
            if not waiting:
                return op
            clock.shift(max(op.lease_expires_at - timezone.now(), timedelta(0)) + timedelta(milliseconds=1))
            time.sleep(0.002)
    raise AssertionError(f"operation {op.pk} still {op.state} after {max_turns} wake-ups")
