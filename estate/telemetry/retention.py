"""Five-minute rollups and the purge of old telemetry, run by a periodic task."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Min, Q
from django.utils import timezone

from estate.telemetry import partitions
from estate.telemetry.db import BucketIndex
from estate.telemetry.models import Event, HealthChange, IngestBatch, Rollup, Sample, StaleRollup

BUCKET = 300  # seconds per rollup; charts read rollups in the same buckets
# One run rolls up at most this much time, so a backlog is worked off in short steps.
MAX_SPAN = timedelta(hours=6)
# A bucket is rolled up SETTLE after it closes; a batch that adds samples to a bucket closed more
# than LATE ago marks it stale, and the next run aggregates it again (see ingest). Samples a few
# seconds late mark nothing, and one sent in between is missed only by a batch that takes longer
# than SETTLE - LATE to commit.
SETTLE = timedelta(seconds=120)
LATE = timedelta(seconds=60)
STALE_CHUNK = 500  # buckets re-aggregated per query
# One run takes at most this many stale marks (a replayed day of data), the rest the next runs.
STALE_PER_RUN = 20_000


@dataclass
class RetentionResult:
    rollups: int = 0
    samples_purged: int = 0  # rows DELETEd; the rows of a dropped partition are not counted
    other_purged: int = 0
    partitions_created: int = 0
    partitions_dropped: int = 0


def floor_bucket(moment: datetime) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // BUCKET * BUCKET, tz=UTC)


def late_before(now: datetime) -> datetime:
    """Samples stored `now` with a time before this may miss their bucket's first rollup: their
    bucket closed more than LATE ago (a bucket boundary, so comparing the time is enough)."""
    return floor_bucket(now - LATE)


def rollup_and_purge(*, now: datetime | None = None) -> RetentionResult:
    now = now or timezone.now()
    result = RetentionResult()
    result.partitions_created = partitions.ensure_partitions(now=now)
    with transaction.atomic():
        result.rollups = rollup(now=now)
    result.partitions_dropped = partitions.drop_partitions_before(
        now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    )
    result.samples_purged, result.other_purged = purge(now=now)
    return result


def rollup(*, now: datetime) -> int:
    """Roll up the new closed buckets, then again those that received samples late. Idempotent."""
    return rollup_new(now=now) + rollup_stale(now=now)


def rollup_new(*, now: datetime) -> int:
    """Roll up the closed 5-minute buckets after the last one rolled up: one GROUP BY query."""
    end = floor_bucket(now - SETTLE)
    last = Rollup.objects.aggregate(last=Max("bucket"))["last"]
    after = Sample.objects.filter(ts__lt=end)
    if last is not None:
        after = after.filter(ts__gte=last + timedelta(seconds=BUCKET))
    # Skip straight to the first sample, so quiet hours never hold the rollup back.
    first = after.aggregate(first=Min("ts"))["first"]
    if first is None:
        return 0
    start = floor_bucket(first)
    end = min(end, start + MAX_SPAN)
    rollups = _aggregate(Sample.objects.filter(ts__gte=start, ts__lt=end))
    Rollup.objects.bulk_create(rollups, batch_size=2000, ignore_conflicts=True)
    return len(rollups)


def rollup_stale(*, now: datetime) -> int:
    """Aggregate again the buckets that received samples after they had been rolled up (late
    shippers, retries), replacing their rollups; the marks are taken, so each is done once.

    A marked bucket past the last one rolled up is left to rollup_new, which has not reached it
    yet; rolling it here would move the last bucket forward and skip the buckets in between.
    """
    last = Rollup.objects.aggregate(last=Max("bucket"))["last"]
    oldest = now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS)  # older raw samples may be purged
    stale = sorted({(c, n, b) for c, n, b in _take_stale_marks() if last is not None and oldest <= b <= last})
    rollups = []
    for start in range(0, len(stale), STALE_CHUNK):
        chunk = stale[start : start + STALE_CHUNK]
        buckets = [Q(component_id=c, name=n, ts__gte=b, ts__lt=b + timedelta(seconds=BUCKET)) for c, n, b in chunk]
        rollups += _aggregate(Sample.objects.filter(reduce(or_, buckets)))
    Rollup.objects.bulk_create(
        rollups,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["component", "name", "bucket"],
        update_fields=["min", "max", "avg", "count"],
    )
    return len(rollups)


def _take_stale_marks() -> list[tuple]:
    """Delete the oldest stale-bucket marks and return them: two runs at once never take the same one."""
    table = StaleRollup._meta.db_table
    sql = f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT %s) RETURNING "  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql + "component_id, name, bucket", [STALE_PER_RUN])
        rows = cursor.fetchall()
    convert = connection.ops.convert_datetimefield_value if connection.vendor != "postgresql" else None
    bucket = StaleRollup._meta.get_field("bucket")
    return [(c, n, convert(b, bucket, connection) if convert else b) for c, n, b in rows]


def _aggregate(samples) -> list[Rollup]:
    """Unsaved rollups of the samples, one per component, metric and bucket."""
    rows = (
        samples.annotate(b=BucketIndex("ts", BUCKET))
        .values("component_id", "name", "b")
        .annotate(lo=Min("value"), hi=Max("value"), mean=Avg("value"), n=Count("pk"))
    )
    return [
        Rollup(
            component_id=r["component_id"],
            name=r["name"],
            bucket=datetime.fromtimestamp(r["b"] * BUCKET, tz=UTC),
            min=r["lo"],
            max=r["hi"],
            avg=r["mean"],
            count=r["n"],
        )  # fmt: skip
        for r in rows
    ]


def purge(*, now: datetime) -> tuple[int, int]:
    """Delete raw samples past the retention; rollups, events, changes and idempotency keys past theirs.

    On PostgreSQL the whole days past the retention are gone already (partitions dropped): the
    samples' DELETE only reaches the day at the edge and the DEFAULT partition.
    Sample, Event, Rollup and IngestBatch have no rows pointing at them, so Django deletes them
    with one DELETE each instead of loading them.
    """
    days = timedelta(days=settings.TELEMETRY_RETENTION_DAYS)
    samples = Sample.objects.filter(ts__lt=now - days).delete()[0]
    other = sum(
        qs.delete()[0]
        for qs in (
            Event.objects.filter(ts__lt=now - days),
            Rollup.objects.filter(bucket__lt=now - timedelta(days=settings.TELEMETRY_ROLLUP_RETENTION_DAYS)),
            HealthChange.objects.filter(at__lt=now - timedelta(days=settings.TELEMETRY_HEALTH_CHANGE_RETENTION_DAYS)),
            IngestBatch.objects.filter(created_at__lt=now - timedelta(hours=settings.TELEMETRY_IDEMPOTENCY_HOURS)),
        )
    )
    return samples, other
