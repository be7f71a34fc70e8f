"""Queue semantics with a real Celery worker on the real Redis and the test database (PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from estate.celery import app as celery_app
from estate.inventory.choices import InstanceState
from estate.inventory.models import Instance
from estate.operations import services
from estate.operations.choices import FINISHED_STATES, OperationKind, OperationState, ReplacementState
from estate.operations.models import Operation, Replacement
from estate.operations.tasks import run_operation
from tests.operations.conftest import make_component

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(tmp_path: Path, name: str, *, pool: tuple[str, ...] = ("-P", "solo")) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ["REDIS_URL"],
        "OPERATIONS_LEASE_SECONDS": "2",
        "OPERATIONS_POLL_SECONDS": "0.05",
        "OPERATIONS_MAX_SNOOZE_SECONDS": "1",
        "DB_CONN_MAX_AGE": "0",
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "estate",
            "worker",
            *pool,
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(worker: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    worker.wait(timeout=20)


def wait_for(predicate, *, timeout: float = 60, sweep: bool = False):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sweep:
            services.operation_sweep()  # what beat does every 30 s
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def finished(op_id: int) -> Operation | None:
    op = Operation.objects.get(pk=op_id)
    return op if op.state in FINISHED_STATES else None


@pytest.fixture(autouse=True)
def clean_queue(settings):
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    settings.OPERATIONS_REDISPATCH_SECONDS = 0
    yield


@pytest.fixture
def workers(tmp_path):
    started: list[subprocess.Popen] = []

    def spawn(name: str, **kwargs) -> subprocess.Popen:
        worker = start_worker(tmp_path, name, **kwargs)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        stop(worker, signal.SIGKILL)


def assert_replaced_exactly_once(op: Operation, component) -> None:
    reps = Replacement.objects.filter(operation=op)
    assert all(r.state == ReplacementState.DONE for r in reps)
    assert Counter(r.old_instance_id for r in reps).most_common(1)[0][1] == 1
    new_ids = [r.new_instance_id for r in reps]
    assert len(set(new_ids)) == len(new_ids) == op.progress_total
    # Nothing launched beside the recorded replacements, and every old instance is gone.
    assert Instance.objects.filter(component=component).count() == 2 * op.progress_total
    assert Instance.objects.filter(component=component, state=InstanceState.RUNNING).count() == op.progress_total
    assert set(
        Instance.objects.filter(component=component, state=InstanceState.RUNNING).values_list("pk", flat=True)
    ) == set(new_ids)


def test_a_real_worker_runs_an_operation_to_the_end(workers):
    component = make_component(instances=3)
    workers("w1")
    op = services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={"warmup_seconds": 0.1}
    )
    op = wait_for(lambda: finished(op.pk))
    assert op.state == OperationState.SUCCEEDED, op.error
    assert_replaced_exactly_once(op, component)


def test_killed_worker_mid_roll_then_a_new_one_replaces_every_instance_exactly_once(workers, tmp_path):
    component = make_component(instances=8)
    first = workers("w1")
    op = services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={"batch_size": 1, "warmup_seconds": 0.4}
    )
    wait_for(lambda: Operation.objects.get(pk=op.pk).progress_done >= 2, timeout=60)
    stop(first, signal.SIGKILL)
    op.refresh_from_db()
    assert op.state == OperationState.RUNNING and op.progress_done < 8
    workers("w2")
    op = wait_for(lambda: finished(op.pk), timeout=90, sweep=True)
    assert op.state == OperationState.SUCCEEDED, op.error
    # Killed inside a turn, its lease ran out and w2 took over (a new attempt); killed between turns
    # (the roll was waiting, held by nobody), w2 simply woke it. Either way w2 carried it to the end.
    assert "run_operation" in (tmp_path / "w2.log").read_text()
    assert_replaced_exactly_once(op, component)


def test_an_operation_created_while_the_broker_is_down_runs_once_it_is_back(workers, monkeypatch):
    component = make_component(instances=2)
    dead_broker = celery_app.connection_for_write("redis://127.0.0.1:1/0")  # nothing listens there
    send = run_operation.apply_async
    monkeypatch.setattr(run_operation, "apply_async", lambda args, **kw: send(args, connection=dead_broker, **kw))
    op = services.operation_start(
        component=component, kind=OperationKind.ROLL_COMPONENT, params={"warmup_seconds": 0.1}
    )
    monkeypatch.undo()
    op.refresh_from_db()
    assert op.state == OperationState.QUEUED and op.attempts == 0
    workers("w1")
    time.sleep(1)
    assert Operation.objects.get(pk=op.pk).state == OperationState.QUEUED  # no message reached the worker
    op = wait_for(lambda: finished(op.pk), sweep=True)
    assert op.state == OperationState.SUCCEEDED, op.error
    assert_replaced_exactly_once(op, component)


def launched(op_id: int) -> bool:
    return Replacement.objects.filter(operation_id=op_id, state=ReplacementState.LAUNCHED).exists()


def pending_instances(component) -> int:
    return Instance.objects.filter(component=component, state=InstanceState.PENDING).count()


WAITS_LONG = {"batch_size": 2, "warmup_seconds": 3600, "health_timeout_seconds": 3600}


def test_cancel_stops_a_real_worker_held_by_a_long_health_gate_at_once_and_frees_it(workers):
    held, other = make_component(instances=2), make_component(instances=1)
    workers("w1")  # one worker, one slot (-P solo): the slot is free again only if the cancel took effect
    op = services.operation_start(component=held, kind=OperationKind.ROLL_COMPONENT, params=WAITS_LONG)
    wait_for(lambda: launched(op.pk))
    services.operation_cancel(operation=op)
    asked = time.monotonic()
    op = wait_for(lambda: finished(op.pk), timeout=15)
    assert op.state == OperationState.CANCELLED, op.error
    assert time.monotonic() - asked < 5
    assert pending_instances(held) == 0
    assert held.instances.filter(state=InstanceState.RUNNING).count() == 2  # the old ones, untouched
    next_op = services.operation_start(
        component=other, kind=OperationKind.ROLL_COMPONENT, params={"warmup_seconds": 0.1}
    )
    assert wait_for(lambda: finished(next_op.pk), timeout=30).state == OperationState.SUCCEEDED


def test_cancel_then_a_worker_restart_leaves_no_new_instance_pending(workers):
    component = make_component(instances=2)
    first = workers("w1")
    op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT, params=WAITS_LONG)
    # The batch launches its two new instances one after the other: kill the worker once both are up
    # (killed between the two, only one would be pending, and CI once caught it there).
    wait_for(lambda: pending_instances(component) == 2)
    stop(first, signal.SIGKILL)
    services.operation_cancel(operation=op)
    assert pending_instances(component) == 2
    workers("w2")
    op = wait_for(lambda: finished(op.pk), timeout=60, sweep=True)
    assert op.state == OperationState.CANCELLED, op.error
    assert pending_instances(component) == 0
    assert "unfinished new instance(s) terminated" in op.steps.last().message
    assert component.instances.filter(state=InstanceState.RUNNING).count() == 2


# --- waiting costs nothing: one worker process carries many waiting rolls -----------------------------
ROLL = {"batch_size": 1, "warmup_seconds": 1.5, "health_timeout_seconds": 60}


def roll_many(components) -> tuple[list[Operation], float]:
    started = time.monotonic()
    ops = [services.operation_start(component=c, kind=OperationKind.ROLL_COMPONENT, params=ROLL) for c in components]
    ops = [wait_for(lambda op=op: finished(op.pk), timeout=120) for op in ops]
    return ops, time.monotonic() - started


def health_evaluations(tmp_path: Path, name: str) -> int:
    return (tmp_path / f"{name}.log").read_text().count("health evaluated")


def test_one_worker_process_runs_ten_waiting_rolls_at_once_and_health_evaluation_keeps_its_schedule(workers, tmp_path):
    """Each roll spends most of its time waiting (three batches, each warming up for 1.5 s, then gated on
    health). A worker that slept while waiting would run them one after another (ten times one roll);
    one that snoozes runs them side by side, and still takes other work (health evaluation) meanwhile."""
    from estate.telemetry.tasks import evaluate_health

    workers("w1", pool=("--concurrency=1",))  # prefork, ONE child process
    roll_many([make_component(instances=1)])  # the worker is up and warm before anything is timed
    [alone], one_roll = roll_many([make_component(instances=3)])
    assert alone.state == OperationState.SUCCEEDED, alone.error

    components = [make_component(instances=3) for _ in range(10)]
    started = time.monotonic()
    ops = [services.operation_start(component=c, kind=OperationKind.ROLL_COMPONENT, params=ROLL) for c in components]
    time.sleep(1)  # every roll is waiting for its first warm-up now
    sent = time.monotonic()
    evaluate_health.delay()
    wait_for(lambda: health_evaluations(tmp_path, "w1") >= 1, timeout=10)
    evaluated_after = time.monotonic() - sent
    still_rolling = sum(1 for op in ops if finished(op.pk) is None)
    ops = [wait_for(lambda op=op: finished(op.pk), timeout=120) for op in ops]
    ten_rolls = time.monotonic() - started

    assert [op.state for op in ops] == [OperationState.SUCCEEDED] * 10, [op.error for op in ops]
    for op, component in zip(ops, components, strict=True):
        assert_replaced_exactly_once(op, component)
    assert still_rolling == 10  # health evaluation ran while every roll was under way
    assert evaluated_after < 5
    # Side by side, not one after another: close to one roll, far from the sum of ten.
    assert ten_rolls < 3 * one_roll, (ten_rolls, one_roll)
    print(
        f"\none roll alone: {one_roll:.1f} s; ten at once on one process: {ten_rolls:.1f} s "
        f"(sum would be ~{10 * one_roll:.0f} s); health evaluated {evaluated_after:.2f} s after it was sent"
    )


def test_a_real_worker_rolls_a_sick_component_down_instance_first_and_a_new_one_up_to_its_desired_count(workers):
    """Issue 12's two sick states, on a real worker: one of three instances down (the roll used to
    replace a healthy one and fail on capacity), and a new service with no instances (it used to
    succeed with 0 of 0)."""
    from estate.inventory.choices import Health

    sick = make_component(instances=3)
    down = sick.instances.order_by("-external_id").first()
    Instance.objects.filter(pk=down.pk).update(health=Health.DOWN)
    empty = make_component(instances=0)
    type(empty).objects.filter(pk=empty.pk).update(desired_instances=3)
    empty.refresh_from_db()
    workers("w1", pool=("--concurrency=1",))
    ops = [services.operation_start(component=c, kind=OperationKind.ROLL_COMPONENT, params=ROLL) for c in (sick, empty)]
    healed, filled = [wait_for(lambda op=op: finished(op.pk), timeout=90) for op in ops]
    assert healed.state == OperationState.SUCCEEDED, healed.error
    assert Replacement.objects.filter(operation=healed).order_by("batch").first().old_instance_id == down.pk
    assert filled.state == OperationState.SUCCEEDED, filled.error
    assert (filled.progress_done, filled.progress_total) == (3, 3)
    for component in (sick, empty):
        running = Instance.objects.filter(component=component, state=InstanceState.RUNNING)
        assert running.count() == 3
        assert set(running.values_list("image", flat=True)) == {component.current_image_id}
