"""Daily partitions of the samples table on PostgreSQL (migration 0006): made ahead of time, dropped whole.

telemetry_sample is PARTITIONED BY RANGE (ts), one partition per UTC day named telemetry_sample_pYYYYMMDD,
plus a DEFAULT partition that takes any row whose day has no partition yet, so an insert never fails
for want of one. The retention task calls ensure_partitions() to make the next days' partitions (and
to move a day out of the DEFAULT when it got rows first), and drop_partitions_before() to drop whole
days past the retention: no DELETE, no dead rows, no vacuum of millions of tuples.

On SQLite the samples stay one plain table and every function here does nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

TABLE = "telemetry_sample"
DEFAULT = "telemetry_sample_default"
DAYS_AHEAD = 3  # partitions made in advance, so a missed beat or two still finds today's ready
_DAY_NAME = re.compile(r"^telemetry_sample_p(\d{8})$")


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [TABLE])
        return cursor.fetchone()[0]


def day_partitions() -> dict[date, str]:
    """The daily partitions attached to the samples table, by day (the DEFAULT is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    matches = (_DAY_NAME.match(name) for name in names)
    return {datetime.strptime(m.group(1), "%Y%m%d").date(): m.group(0) for m in matches if m}  # noqa: DTZ007


def ensure_partitions(*, now: datetime | None = None, ahead: int = DAYS_AHEAD) -> int:
    """Create the missing daily partitions from the oldest day kept to `ahead` days after now. Idempotent;
    returns how many it created."""
    if not is_partitioned():
        return 0
    now = (now or timezone.now()).astimezone(UTC)
    first = (now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)).date()
    existing = day_partitions()
    missing = [first + timedelta(days=n) for n in range((now.date() - first).days + ahead + 1)]
    missing = [day for day in missing if day not in existing]
    for day in missing:
        _create_partition(day)
    return len(missing)


def _create_partition(day: date) -> None:
    name = partition_name(day)
    start, end = (_literal(moment) for moment in day_bounds(day))
    with transaction.atomic(), connection.cursor() as cursor:
        # Taken first, on the parent, so that no insert routes a row of this day into the DEFAULT
        # between the check below and the new partition; the parent before the DEFAULT, in the order
        # an insert takes them, so the two cannot deadlock. Held for milliseconds unless rows move.
        cursor.execute(f"LOCK TABLE ONLY {TABLE} IN ACCESS EXCLUSIVE MODE")
        in_day = f"ts >= {start} AND ts < {end}"
        cursor.execute(f"SELECT to_regclass(%s) IS NOT NULL, EXISTS (SELECT 1 FROM {DEFAULT} WHERE {in_day})", [name])  # noqa: S608
        exists, in_default = cursor.fetchone()
        if exists:  # made by another run since we looked
            return
        if not in_default:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ({start}) TO ({end})")
            return
        # PostgreSQL refuses a partition for rows the DEFAULT already holds (the upkeep ran late):
        # move them into a plain table of the same shape, then attach it, which builds its indexes.
        cursor.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE {in_day} RETURNING *) "  # noqa: S608
            f"INSERT INTO {name} SELECT * FROM moved"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")


def drop_partitions_before(cutoff: datetime) -> int:
    """Drop the daily partitions whose whole day is before `cutoff`; returns how many. The edge day and
    the DEFAULT are left to a DELETE of their rows before the cutoff."""
    if not is_partitioned():
        return 0
    old = sorted(name for day, name in day_partitions().items() if day_bounds(day)[1] <= cutoff)
    for name in old:
        # One short transaction per day: DROP takes the parent's lock only for the catalog change.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")
    return len(old)


def _literal(moment: datetime) -> str:
    """A timestamptz literal with its offset: partition bounds must not depend on the session's TimeZone."""
    return f"'{moment.isoformat()}'::timestamptz"
