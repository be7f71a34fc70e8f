"""Discovery at scale: one AWS sync against a moto server (real HTTP), its time and SQL queries.

Builds an account of GROUPS Auto Scaling groups x INSTANCES instances, DATABASES RDS instances,
FUNCTIONS Lambda functions and TABLES DynamoDB tables over two regions, then syncs it three times:
the first creates everything, the second finds nothing changed, the third after a fifth of the groups
scaled up by one. For each: the time reading AWS (moto), the time writing, and the SQL statements.
From the project root (the database is wiped: never point it at data you want to keep):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench DEBUG=true \\
        .venv/bin/python bench/bench_discovery.py [--groups 20 --instances 10 --databases 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
os.environ["ESTATE_BENCH_KEY"] = os.environ["ESTATE_BENCH_SECRET"] = "bench"

import django  # noqa: E402

django.setup()

from botocore.config import Config  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from estate.discovery import aws as aws_adapter  # noqa: E402
from estate.discovery import services  # noqa: E402
from estate.discovery.aws import AwsReader  # noqa: E402
from estate.discovery.models import DiscoverySource  # noqa: E402
from estate.inventory.models import Cluster, Component, Instance  # noqa: E402
from tests.discovery.conftest import Aws  # noqa: E402

REGIONS = ["eu-west-1", "us-east-1"]
# moto answers describe_instances for 1,000 instances far slower than AWS does: wait for it.
aws_adapter.BOTO_CONFIG = aws_adapter.BOTO_CONFIG.merge(Config(read_timeout=600))


def seed(aws: Aws, args) -> None:
    for n in range(args.groups):
        aws.group(f"group-{n}", REGIONS[n % 2], args.instances)
    for n in range(args.databases):
        aws.database(f"db-{n}", REGIONS[n % 2])
    for n in range(args.functions):
        aws.function(f"fn-{n}", REGIONS[n % 2])
    for n in range(args.tables):
        aws.table(f"table-{n}", REGIONS[n % 2])


READS: list[float] = []
_read_all = AwsReader.read_all


def _timed_read_all(self):
    """The sync's own read of AWS, timed, so that the rest of the sync is the writing."""
    started = time.perf_counter()
    try:
        return _read_all(self)
    finally:
        READS.append(time.perf_counter() - started)


AwsReader.read_all = _timed_read_all


def measured(source: DiscoverySource) -> dict:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        run = services.sync_now(source=source)
        total = time.perf_counter() - started
    assert run.state == "succeeded", (run.messages, run.region_errors)
    return {"run": run, "read": READS[-1], "total": total, "queries": len(queries.captured_queries)}


def main() -> None:
    parser = argparse.ArgumentParser()
    for name, default in (("groups", 20), ("instances", 10), ("databases", 20), ("functions", 10), ("tables", 10)):
        parser.add_argument(f"--{name}", type=int, default=default)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    Instance.objects.all().delete()
    Component.objects.all().delete()
    Cluster.objects.all().delete()
    DiscoverySource.objects.all().delete()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = Aws(f"http://{host}:{port}")
        started = time.perf_counter()
        seed(aws, args)
        print(f"seeded in {time.perf_counter() - started:.1f} s")
        source = DiscoverySource.objects.create(
            name="bench", kind="aws", regions=REGIONS, endpoint_url=aws.url,
            access_key_id_env="ESTATE_BENCH_KEY", secret_access_key_env="ESTATE_BENCH_SECRET",
        )  # fmt: skip
        rows = [("first (all created)", measured(source)), ("second (nothing changed)", measured(source))]
        for n in range(0, args.groups, 5):
            aws.scale(f"group-{n}", REGIONS[n % 2], args.instances + 1)
        rows.append(("third (a fifth of the groups +1)", measured(source)))
    finally:
        server.stop()
    print(f"{Component.objects.count()} components, {Instance.objects.count()} instances")
    print("| sync | created | updated | unchanged | read AWS (s) | sync total (s) | writing (s) | SQL statements |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, m in rows:
        run = m["run"]
        print(
            f"| {label} | {run.created} | {run.updated} | {run.unchanged} | {m['read']:.2f} | {m['total']:.2f} "
            f"| {m['total'] - m['read']:.2f} | {m['queries']} |"
        )


if __name__ == "__main__":
    main()
