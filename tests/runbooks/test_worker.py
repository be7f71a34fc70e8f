"""A runbook run on a real Celery worker that is killed mid-step: the next worker resumes at that step and the
node does the action once (PostgreSQL and Redis, like tests/operations/test_worker.py)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from estate.operations.choices import OperationState
from estate.runbooks import services
from estate.runbooks.models import RunStep
from tests.operations.test_worker import finished, start_worker, stop, wait_for
from tests.runbooks.conftest import open_occurrence, template

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def clean_queue(settings):
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    settings.OPERATIONS_REDISPATCH_SECONDS = 0


@pytest.fixture
def workers(tmp_path, cluster, monkeypatch):
    monkeypatch.setenv("RUNBOOK_COMMANDS", json.dumps(cluster.commands()))
    monkeypatch.setenv("RUNBOOK_GATE_POLL_SECONDS", "0.2")
    started = []

    def spawn(name: str):
        started.append(start_worker(tmp_path, name))
        return started[-1]

    yield spawn
    for worker in started:
        stop(worker, signal.SIGKILL)


def test_a_worker_killed_mid_action_is_resumed_without_repeating_the_action(cluster, members, requester, workers):
    occurrence = open_occurrence(members[:1])
    steps = [
        {"type": "action", "name": "patch the primary", "action": "patch", "target": "primary"},
        {
            "type": "action",
            "name": "patch the replica",
            "action": "patch",
            "target": "replicas",
            "params": {"sleep": 4},
        },
        {"type": "gate", "name": "caught up", "conditions": [{"kind": "lag", "max_seconds": 1}], "hold_seconds": 0.5},
    ]
    first = workers("w1")
    run = services.run_start(occurrence=occurrence, requested_by=requester, template=template(steps))
    key = f"run{run.operation_id}-s1-db-2"
    wait_for(lambda: any(key in line for line in cluster.asked()), timeout=60)  # the node is patching db-2
    stop(first, signal.SIGKILL)  # the worker dies; the node's command runs on in its own session

    workers("w2")
    op = wait_for(lambda: finished(run.operation_id), timeout=90, sweep=True)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert op.attempts >= 2  # a second worker took it over
    assert cluster.performed() == [f"patch db-1 run{op.pk}-s0-db-1", f"patch db-2 {key}"]  # each action once
    assert sum(f"run{op.pk}-s0-db-1" in line for line in cluster.asked()) == 1  # a finished step is not asked again
    assert list(RunStep.objects.filter(run=run).values_list("state", flat=True)) == ["done"] * 3
