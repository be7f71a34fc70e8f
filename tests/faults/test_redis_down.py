"""Redis stopped while operations are created through the API: each still runs, exactly once, once it is back."""

from __future__ import annotations

import time

import pytest
import requests

from estate.celery import app as celery_app
from estate.operations.tasks import sweep_operations
from tests.faults.conftest import manage, wait_until
from tests.operations import test_worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OPERATIONS = 10
BEFORE_THE_STOP = 3
INSTANCES = 2
PASSWORD = "faults-password-1"
SEED = f"""
from django.contrib.auth import get_user_model
from tests.operations.conftest import make_component
get_user_model().objects.create_superuser("faults", "faults@example.com", "{PASSWORD}")
for _ in range({OPERATIONS}):
    print("component", make_component(instances={INSTANCES}).pk)
"""


def logged_in(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=10).raise_for_status()
    response = session.post(
        f"{base}/login/",
        data={"username": "faults", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert response.ok and "sessionid" in session.cookies, response.text[:2000]
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    return session


def start_roll(session: requests.Session, base: str, component_id: int) -> int:
    body = {"kind": "roll_component", "component": component_id, "params": {"warmup_seconds": 0.1}}
    response = session.post(f"{base}/api/v1/operations/", json=body, timeout=30)
    assert response.status_code == 202, f"{response.status_code} {response.text[:3000]}"
    return response.json()["id"]


def operation_rows(conn, ids: list[int]) -> dict[int, tuple]:
    rows = conn.execute(
        "SELECT id, state, attempts, progress_done, progress_total, error FROM operations_operation WHERE id = ANY(%s)",
        (ids,),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


class Supervisor:
    """Real workers, restarted when one exits, as compose's or systemd's restart policy would.

    Celery 5.7 / kombu 5.7 workers can die on a lost Redis connection while they hold an unacked
    message ("Unrecoverable error: AttributeError: 'NoneType' object has no attribute 'hostname'",
    from restore_unacked after the consumer's connection was collected): an upstream bug that
    only a restart policy gets over. The restarts are counted and reported.
    """

    def __init__(self, tmp_path, names: list[str]):
        self.tmp_path = tmp_path
        self.workers = {name: test_worker.start_worker(tmp_path, name) for name in names}
        self.restarts: list[str] = []

    def revive(self) -> None:
        for name, worker in list(self.workers.items()):
            if worker.poll() is not None:
                new = f"{name.split('-')[0]}-{len(self.restarts) + 1}"
                self.restarts.append(f"{name} exited with {worker.returncode}; started {new}")
                del self.workers[name]
                self.workers[new] = test_worker.start_worker(self.tmp_path, new)

    def stop(self) -> None:
        for worker in self.workers.values():
            test_worker.stop(worker)


def wait_until_finished(conn, ids: list[int], redis_url: str, supervisor: Supervisor, *, timeout: float):
    """What beat does every 30 s, every 2 s: a sweep through the broker, run by a worker."""
    broker = celery_app.connection_for_write(redis_url)
    deadline = time.monotonic() + timeout
    while True:
        rows = operation_rows(conn, ids)
        if all(row[0] in ("succeeded", "failed", "cancelled") for row in rows.values()):
            return rows
        if time.monotonic() > deadline:
            return rows
        supervisor.revive()
        sweep_operations.apply_async(connection=broker)
        time.sleep(2)


def assert_each_replaced_exactly_once(conn, op_id: int) -> None:
    replacements = conn.execute(
        "SELECT old_instance_id, new_instance_id, state FROM operations_replacement WHERE operation_id = %s",
        (op_id,),
    ).fetchall()
    component_id = conn.execute("SELECT component_id FROM operations_operation WHERE id = %s", (op_id,)).fetchone()[0]
    instances = conn.execute(
        "SELECT id, state FROM inventory_instance WHERE component_id = %s", (component_id,)
    ).fetchall()
    olds = [r[0] for r in replacements]
    news = [r[1] for r in replacements]
    assert {r[2] for r in replacements} == {"done"}, replacements
    assert len(set(olds)) == len(olds) == INSTANCES, replacements
    assert len(set(news)) == len(news) == INSTANCES, replacements
    # Nothing launched beside the recorded replacements, and every old instance is gone.
    assert len(instances) == 2 * INSTANCES, instances
    assert {pk for pk, state in instances if state == "running"} == set(news), instances


def test_operations_created_while_redis_is_down_each_run_once_it_is_back(
    throwaway_postgres, fresh_database, throwaway_redis, app_server, tmp_path, monkeypatch
):
    database_url = throwaway_postgres.url(fresh_database)
    server = app_server(database_url, throwaway_redis.url)
    seeded = manage("shell", "-c", SEED, env=server.env).splitlines()
    components = [int(line.split()[1]) for line in seeded if line.startswith("component ")]
    # The suite's worker helper, pointed at the throwaway servers; it re-dispatches queued rows after 1 s.
    monkeypatch.setattr(test_worker, "_database_url", lambda: database_url)
    monkeypatch.setenv("REDIS_URL", throwaway_redis.url)
    monkeypatch.setenv("OPERATIONS_REDISPATCH_SECONDS", "1")
    supervisor = Supervisor(tmp_path, ["w1", "w2"])
    try:
        session = logged_in(server.base)
        ids = [start_roll(session, server.base, pk) for pk in components[:BEFORE_THE_STOP]]
        with throwaway_postgres.connect(fresh_database) as conn:
            # The workers are at work (their messages came through) when Redis goes away.
            wait_until(lambda: any(row[1] for row in operation_rows(conn, ids).values()), timeout=30,
                       what="a worker to claim an operation", log=tmp_path / "w1.log")  # fmt: skip
            throwaway_redis.stop()
            ids += [start_roll(session, server.base, pk) for pk in components[BEFORE_THE_STOP:]]
            throwaway_redis.start()
            rows = wait_until_finished(conn, ids, throwaway_redis.url, supervisor, timeout=90)
            report = diagnostics(rows, tmp_path, supervisor)
            assert all(row[0] == "succeeded" for row in rows.values()), report
            for op_id in ids:
                assert_each_replaced_exactly_once(conn, op_id)
    finally:
        supervisor.stop()
    print(f"worker restarts: {supervisor.restarts or 'none'}")


def diagnostics(rows: dict, tmp_path, supervisor: Supervisor) -> str:
    """Each operation's (state, attempts, done, total, error), the worker restarts, and the logs' tails."""
    states = [f"operation {pk}: {row}" for pk, row in sorted(rows.items())]
    logs = [f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(tmp_path.glob("*.log"))]
    return "\n".join([*states, f"worker restarts: {supervisor.restarts}", *logs])
