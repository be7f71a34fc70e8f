"""Operations with a real worker on Redis: dispatch latency and Estate's own overhead per replaced instance.

* POST /api/v1/operations/ to the worker starting it (started_at), median over 100 operations;
* a sandbox component of 1,000 instances rolled in batches of 50 (no warm-up): total time, time
  inside the provider's calls (the engine adds it up in result.provider_seconds), and the rest,
  Estate's own overhead, per replaced instance, in the same run.

Needs PostgreSQL and Redis; the database is migrated and its bench components replaced, and the Redis
database is flushed (use one of your own). From the
project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_h3 REDIS_URL=redis://127.0.0.1:6379/3 \\
        DEBUG=true .venv/bin/python bench/bench_operations.py

It prints the figures as a Markdown table, with the machine's load while measuring. `--small` (100
instances in batches of 10, 10 latency runs) only checks that it runs; `--instances`, `--batch` and
`--latency-runs` set the sizes.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
    sys.exit("Set DATABASE_URL=postgres://... and REDIS_URL=redis://... (a real worker needs both).")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from estate.inventory.choices import Category, Health, InstanceState, Mode, Provider  # noqa: E402
from estate.inventory.models import Component, Environment, Image, Instance  # noqa: E402
from estate.operations.choices import FINISHED_STATES, OperationState  # noqa: E402
from estate.operations.models import Operation  # noqa: E402


def component(slug: str, instances: int) -> Component:
    Component.objects.filter(slug=slug).delete()
    env, _ = Environment.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    comp = Component.objects.create(
        name=slug,
        slug=slug,
        environment=env,
        category=Category.SERVICE,
        mode=Mode.IMMUTABLE,
        provider=Provider.SANDBOX,
        desired_instances=instances,
        heartbeat_period_seconds=30,
    )
    image = Image.objects.create(component=comp, version="1", reference="sandbox://bench/1")
    comp.current_image = image
    comp.save()
    Instance.objects.bulk_create(
        Instance(
            component=comp, external_id=f"{slug}-{n}", image=image, state=InstanceState.RUNNING, health=Health.HEALTHY
        )
        for n in range(instances)
    )
    return comp


def wait(op_id: int, field: str = "finished_at", timeout: float = 600) -> Operation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = Operation.objects.get(pk=op_id)
        if getattr(op, field) is not None and (field != "finished_at" or op.state in FINISHED_STATES):
            return op
        time.sleep(0.002)
    raise SystemExit(f"operation {op_id}: no {field} within {timeout} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="100 instances, 10 latency runs: a quick check")
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=100)
    args = parser.parse_args()
    if args.small:
        args.instances, args.batch, args.latency_runs = 100, 10, 10
    return args


def main() -> None:
    args = parse_args()
    INSTANCES, BATCH, LATENCY_RUNS = args.instances, args.batch, args.latency_runs  # noqa: N806
    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    env = {**os.environ, "OPERATIONS_POLL_SECONDS": "0.01"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "estate",
            "worker",
            "-P",
            "solo",
            "-l",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        latency = component("bench-latency", 1)
        post = {"kind": "rebuild_image", "component": latency.pk}
        wait(client.post("/api/v1/operations/", post, content_type="application/json").json()["id"])  # warm-up
        delays = []
        for _ in range(LATENCY_RUNS):
            from django.utils import timezone

            sent = timezone.now()
            op_id = client.post("/api/v1/operations/", post, content_type="application/json").json()["id"]
            op = wait(op_id, "started_at")
            delays.append((op.started_at - sent).total_seconds() * 1000)
            wait(op_id)
        roll = component("bench-roll", INSTANCES)
        body = {"kind": "roll_component", "component": roll.pk, "params": {"batch_size": BATCH, "warmup_seconds": 0}}
        op = wait(client.post("/api/v1/operations/", body, content_type="application/json").json()["id"])
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    total = (op.finished_at - op.started_at).total_seconds()
    provider = op.result.get("provider_seconds", 0.0)
    print(f"State of the roll: {op.state} {op.error}")
    print(f"Load average (1 min): {os.getloadavg()[0]:.2f}; CPUs: {os.cpu_count()}")
    print("| figure | value |\n| --- | ---: |")
    print(f"| POST to worker start, median of {LATENCY_RUNS} (ms) | {statistics.median(delays):.1f} |")
    print(f"| POST to worker start, p90 (ms) | {statistics.quantiles(delays, n=10)[-1]:.1f} |")
    print(f"| roll of {INSTANCES} instances in batches of {BATCH}, total (s) | {total:.2f} |")
    print(f"| time in provider calls (s) | {provider:.2f} |")
    print(f"| provider time per replaced instance (ms) | {1000 * provider / INSTANCES:.2f} |")
    print(f"| Estate's own overhead per replaced instance (ms) | {1000 * (total - provider) / INSTANCES:.2f} |")
    if op.state != OperationState.SUCCEEDED:
        sys.exit(1)  # a figure of a failed roll is no figure


if __name__ == "__main__":
    main()
