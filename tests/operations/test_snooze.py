"""Waiting costs nothing: an operation that waits gives its worker back and is woken again (issue 12).

Unit level, against the database: the engine never sleeps, a wait releases the claim with the lease
set to the wake-up time, the wait's deadline survives wake-ups, warm-up is the engine's (every
provider's), a cancel needs no wake-up, and a lost wake-up is re-sent (sweep, worker reconnect).
The real worker and Redis are in test_worker.py.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.inventory.choices import InstanceState
from estate.operations import engine, services, wakeups
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation, Replacement
from estate.operations.providers.sandbox import SandboxProvider
from tests.operations.conftest import run_to_end

pytestmark = pytest.mark.django_db


def start(component, **params):
    return services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params=params)


def turn(op) -> Operation:
    engine.execute(op.pk)
    op.refresh_from_db()
    return op


@pytest.fixture
def no_sleeping(monkeypatch):
    """Any sleep inside a turn fails the test: the old engine slept in gate(), retire_olds(), rollout()
    and the providers' waits, holding the worker."""

    def sleep(seconds):
        raise AssertionError(f"a worker slept {seconds} s inside a turn")

    monkeypatch.setattr(time, "sleep", sleep)


def test_a_wait_releases_the_worker_with_the_lease_set_to_the_wake_up(component, no_sleeping):
    op = turn(start(component, batch_size=2, warmup_seconds=3))
    assert op.state == OperationState.RUNNING and op.claim_token == ""  # nobody holds it while it waits
    assert timezone.now() < op.lease_expires_at <= timezone.now() + timedelta(seconds=3)
    assert op.result["waiting"].startswith("Batch 1: warming up (at most until ")
    assert op.attempts == 1
    assert engine.claim(op.pk) is None  # not due yet: an early duplicate message does nothing


def test_a_roll_runs_to_the_end_through_its_wake_ups_without_sleeping(component, no_sleeping):
    op = start(component, batch_size=2, warmup_seconds=1, health_timeout_seconds=30)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(20):
            op = turn(op)
            if op.state == OperationState.SUCCEEDED:
                break
            clock.shift(op.lease_expires_at - timezone.now() + timedelta(milliseconds=1))
    assert op.state == OperationState.SUCCEEDED, op.error
    assert op.attempts == 1  # wake-ups are the same attempt going on
    messages = [s.message for s in op.steps.all()]
    assert sum("launched" in m for m in messages) == 2  # said once per batch, not at every wake-up


def test_warm_up_is_the_engines_no_new_instance_is_gated_before_it_has_passed(component, monkeypatch):
    looked = []
    real_refresh = SandboxProvider.refresh

    def refresh(self, operation, instances):
        looked.append(timezone.now())
        real_refresh(self, operation, instances)

    monkeypatch.setattr(SandboxProvider, "refresh", refresh)
    op = start(component, batch_size=4, warmup_seconds=30, health_timeout_seconds=60)
    launched = timezone.now()
    op = run_to_end(op)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert looked and min(looked) >= launched + timedelta(seconds=30)


def test_the_gate_deadline_holds_across_wake_ups_and_workers(component):
    op = turn(start(component, batch_size=4, warmup_seconds=3600, health_timeout_seconds=60))
    deadline = op.result["marks"]["deadline:gate"]
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        op = turn(op)  # another wake-up, maybe another worker: the same deadline
        assert op.result["marks"]["deadline:gate"] == deadline and op.state == OperationState.RUNNING
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        op = turn(op)
    assert op.state == OperationState.FAILED and "not healthy within 60 s" in op.error


def test_a_cancel_of_a_waiting_operation_needs_no_wake_up(component):
    op = turn(start(component, batch_size=2, warmup_seconds=3600))
    services.operation_cancel(operation=op)
    op = turn(op)  # before its wake-up time: a cancelling operation nobody holds is claimable
    assert op.state == OperationState.CANCELLED
    assert not Replacement.objects.filter(operation=op, new_instance__state=InstanceState.PENDING).exists()


def test_a_lost_wake_up_is_sent_again_by_the_sweep(component, settings, monkeypatch):
    settings.OPERATIONS_REDISPATCH_SECONDS = 60
    op = turn(start(component, warmup_seconds=3600))
    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    assert services.operation_sweep() == []  # its wake-up message is on its way
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert services.operation_sweep() == [op.pk]
    assert sent == [op.pk]


def test_a_reconnecting_worker_resends_every_waiting_operations_wake_up(component, monkeypatch):
    from estate.operations.tasks import run_operation

    op = turn(start(component, warmup_seconds=3))
    queued = []
    monkeypatch.setattr(run_operation, "apply_async", lambda args, **kw: queued.append((args, kw["countdown"])))
    assert wakeups.resend_wakeups() == 1
    [(args, countdown)] = queued
    assert args == (op.pk,) and 0 < countdown <= 3
