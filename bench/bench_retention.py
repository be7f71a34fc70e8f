"""Retention at scale: dropping a day's partition of samples against DELETE of the same rows.

One UTC day past the retention is filled with --rows samples (5,000,000; --small 200,000) by COPY
through estate/telemetry/db.insert_rows, spread evenly over 100 components and 5 metrics, then:

1. DELETE: the statement the purge used before partitioning (Sample.objects.filter(ts__lt=...).delete(),
   one DELETE), timed to its commit; then the VACUUM that the dead rows it leaves call for, timed apart.
2. The same rows loaded again into a fresh partition of that day.
3. DROP: partitions.drop_partitions_before(), what the retention task does now, timed to its commit.

Reports DELETE / DROP. PostgreSQL only (the partitions are the point). From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/estate_bench_retention .venv/bin/python bench/bench_retention.py

The database is created if missing, migrated and WIPED. Prints a Markdown section for
bench/RESULTS.md (or appends it with --append).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_telemetry import ROOT, build_estate, setup_django, wipe  # noqa: E402

COLUMNS = ("component_id", "instance_id", "name", "value", "unit", "ts")
METRICS = ("cpu_percent", "memory_percent", "latency_p95_ms", "http_error_rate", "disk_percent")
CHUNK = 100_000  # rows per COPY and commit


def sql(statement: str, params=()) -> list:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def old_day():
    """The UTC day just past the retention: the one the retention task drops next."""
    from django.conf import settings

    return (datetime.now(UTC) - timedelta(days=settings.TELEMETRY_RETENTION_DAYS + 1)).date()


def make_partition(day) -> str:
    from estate.telemetry import partitions

    # ensure_partitions makes the days from `now` less the retention onwards: start them at `day`.
    start = partitions.day_bounds(day)[0]
    from django.conf import settings

    partitions.ensure_partitions(now=start + timedelta(days=settings.TELEMETRY_RETENTION_DAYS), ahead=0)
    name = partitions.partition_name(day)
    assert sql("SELECT to_regclass(%s) IS NOT NULL", [name])[0][0], name
    return name


def load(day, rows: int, component_ids: list[int]) -> float:
    """COPY `rows` samples spread evenly over the day, in commits of CHUNK rows; returns seconds."""
    from django.db import transaction

    from estate.telemetry.db import insert_rows
    from estate.telemetry.models import Sample

    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    step = 86_400 / rows
    began = time.perf_counter()
    for first in range(0, rows, CHUNK):
        batch = [
            (component_ids[n % len(component_ids)], None, METRICS[n // len(component_ids) % len(METRICS)],
             float(n % 97), "", start + timedelta(seconds=n * step))
            for n in range(first, min(first + CHUNK, rows))
        ]  # fmt: skip
        with transaction.atomic():
            insert_rows(Sample, COLUMNS, batch)
    seconds = time.perf_counter() - began
    sql("VACUUM ANALYZE telemetry_sample")  # a settled table, as a day-old partition is
    return seconds


def timed(work) -> tuple[float, object]:
    began = time.perf_counter()
    result = work()  # autocommit: each statement is committed when it returns
    return time.perf_counter() - began, result


def run(args) -> dict:
    from estate.inventory.models import Component
    from estate.telemetry import partitions
    from estate.telemetry.models import Sample

    assert partitions.is_partitioned(), "telemetry_sample is not partitioned: PostgreSQL with migration 0006"
    wipe()
    build_estate(100, instances_per_component=1)
    sql("TRUNCATE telemetry_sample")
    ids = list(Component.objects.values_list("id", flat=True))
    day = old_day()
    start, end = partitions.day_bounds(day)
    figures = {"rows": args.rows, "day": day.isoformat()}

    name = make_partition(day)
    figures["load_s"] = load(day, args.rows, ids)
    figures["size_mb"] = sql("SELECT pg_total_relation_size(%s) / 1048576.0", [name])[0][0]
    assert Sample.objects.filter(ts__gte=start, ts__lt=end).count() == args.rows
    figures["delete_s"], deleted = timed(lambda: Sample.objects.filter(ts__lt=end).delete()[0])
    assert deleted == args.rows, deleted
    figures["vacuum_s"], _ = timed(lambda: sql(f"VACUUM {name}"))

    sql(f"DROP TABLE {name}")  # a fresh partition for the second load, not the vacuumed one
    make_partition(day)
    figures["reload_s"] = load(day, args.rows, ids)
    assert Sample.objects.filter(ts__gte=start, ts__lt=end).count() == args.rows
    before = sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'telemetry_sample'::regclass")[0][0]
    figures["drop_s"], dropped = timed(lambda: partitions.drop_partitions_before(end))
    after = sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'telemetry_sample'::regclass")[0][0]
    assert dropped == 1 and after == before - 1, (dropped, before, after)
    assert not Sample.objects.filter(ts__gte=start, ts__lt=end).exists()
    figures["ratio"] = figures["delete_s"] / figures["drop_s"]
    return figures


def report(figures: dict, argv: list[str], load_before: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "estate"], capture_output=True, text=True, cwd=ROOT)
    code = commit.stdout.strip() + (" with uncommitted changes under estate/" if dirty.stdout.strip() else "")
    pg = sql("SHOW server_version")[0][0]
    rows = figures["rows"]
    return f"""
## Telemetry retention: dropping a day's partition against DELETE

`bench/bench_retention.py`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs shared with other
work (1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; {platform.machine()}),
PostgreSQL {pg}, code {code}. Command:

```
DATABASE_URL=... .venv/bin/python {shlex.join(["bench/bench_retention.py", *argv])}
```

{rows:,} samples of one UTC day ({figures["day"]}, past the retention), 100 components x 5 metrics, loaded by
COPY (`estate/telemetry/db.insert_rows`) in commits of {CHUNK:,} rows; the partition holds
{figures["size_mb"]:.0f} MB with its indexes (primary key, two B-trees, BRIN). The same rows, loaded twice
in the same run:

| step | seconds |
| --- | ---: |
| load by COPY (first) | {figures["load_s"]:.1f} |
| DELETE of the day's rows, as the purge did (one statement, committed) | {figures["delete_s"]:.2f} |
| VACUUM of the dead rows that DELETE leaves | {figures["vacuum_s"]:.2f} |
| load by COPY (again, into a fresh partition) | {figures["reload_s"]:.1f} |
| **DROP of the day's partition, as the retention does now** | **{figures["drop_s"]:.3f}** |

DELETE / DROP = **{figures["ratio"]:,.0f}x** ({figures["delete_s"]:.2f} s against {figures["drop_s"]:.3f} s), before
counting the VACUUM the DELETE calls for. The DROP unlinks the partition's files and removes its catalog rows,
with no WAL per row and no dead rows; the DELETE writes every row's deletion to the WAL and leaves them all
for VACUUM.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--small", action="store_true", help="200,000 rows, for CI")
    parser.add_argument("--append", action="store_true", help="append the section to bench/RESULTS.md")
    args = parser.parse_args()
    if args.small:
        args.rows = 200_000
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("PostgreSQL only: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    setup_django()
    figures = run(args)
    section = report(figures, sys.argv[1:], load_before)
    print(section)
    if args.append:
        with (ROOT / "bench" / "RESULTS.md").open("a") as results:
            results.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
