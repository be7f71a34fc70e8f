"""PostgreSQL restarted while agents post telemetry: retryable errors, then nothing lost and nothing twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.faults.conftest import manage

pytestmark = [pytest.mark.postgres]

SAMPLES_PER_BATCH = 200
SEED = """
from tests.operations.conftest import make_component
for _ in range(3):
    c = make_component(instances=2)
    print("target", c.pk, *c.instances.values_list("external_id", flat=True))
"""


@dataclass
class Client:
    """Posts numbered batches; retries a failed one with the same Idempotency-Key until it is stored."""

    url: str
    token: str
    targets: list[tuple[int, str]]
    stop: threading.Event = field(default_factory=threading.Event)
    stored: int = 0
    answers: Counter = field(default_factory=Counter)
    retried: int = 0
    bad: list[str] = field(default_factory=list)

    def batch(self, n: int) -> list[dict]:
        start = datetime.now(UTC) - timedelta(hours=1)
        items = []
        for i in range(SAMPLES_PER_BATCH):
            component, instance = self.targets[i % len(self.targets)]
            ts = start + timedelta(milliseconds=n * SAMPLES_PER_BATCH + i)
            items.append(
                {"type": "sample", "component": component, "instance": instance, "name": "cpu_percent",
                 "value": n * SAMPLES_PER_BATCH + i, "timestamp": ts.isoformat()}
            )  # fmt: skip
        return items

    def post_until_stored(self, n: int) -> None:
        body, key = self.batch(n), f"faults-batch-{n}"
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        for attempt in range(600):
            try:
                response = requests.post(self.url, json=body, headers=headers, timeout=15)
            except requests.RequestException as exc:
                self.answers[type(exc).__name__] += 1
            else:
                self.answers[response.status_code] += 1
                if 200 <= response.status_code < 300:
                    self.retried += attempt > 0
                    return
                self.check_retryable(response)
            if self.bad:
                return
            time.sleep(0.1)
        self.bad.append(f"batch {n} never stored")

    def check_retryable(self, response: requests.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if (
            response.status_code != 503
            or not response.headers.get("Retry-After", "").isdigit()
            or not isinstance(body, dict)
            or set(body) != {"detail", "errors"}
        ):
            self.bad.append(f"{response.status_code} {dict(response.headers)} {response.text[:2000]}")

    def run(self) -> None:
        while not self.stop.is_set() and not self.bad:
            self.post_until_stored(self.stored)
            if not self.bad:
                self.stored += 1


def wait_for_batches(client: Client, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.stored < count and not client.bad:
        assert time.monotonic() < deadline, f"only {client.stored} batches stored: {client.answers}"
        time.sleep(0.05)


def test_postgres_restart_during_ingest_is_retryable_and_stores_each_sample_once(
    throwaway_postgres, fresh_database, app_server
):
    server = app_server(throwaway_postgres.url(fresh_database))
    seeded = manage("shell", "-c", SEED, env=server.env).splitlines()
    rows = [line.split()[1:] for line in seeded if line.startswith("target ")]
    targets = [(int(row[0]), instance) for row in rows for instance in row[1:]]
    token = manage("create_ingest_token", "faults", "--estate", env=server.env).strip()
    client = Client(f"{server.base}/api/v1/telemetry/", token, targets)
    thread = threading.Thread(target=client.run, daemon=True)
    thread.start()
    try:
        wait_for_batches(client, 10)
        throwaway_postgres.stop("fast")
        time.sleep(1)
        throwaway_postgres.start()
        wait_for_batches(client, client.stored + 10)
    finally:
        client.stop.set()
        thread.join(timeout=60)
    assert not client.bad, f"{client.bad}\n{server.log.read_text()[-3000:]}"
    assert not thread.is_alive()
    assert client.answers[503] >= 1, f"no retryable 503 while the database was down: {client.answers}"
    with throwaway_postgres.connect(fresh_database) as conn:
        samples, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (component_id, instance_id, value, ts)) FROM telemetry_sample"
        ).fetchone()
        batches = conn.execute("SELECT count(*) FROM telemetry_ingestbatch").fetchone()[0]
    print(f"answers {dict(client.answers)}, {client.stored} batches, {client.retried} retried")
    assert batches == client.stored
    assert samples == distinct == client.stored * SAMPLES_PER_BATCH
