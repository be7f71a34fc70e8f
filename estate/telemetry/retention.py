"""Five-minute rollups and the purge of old telemetry, run by a periodic task."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Count, Max, Min
from django.utils import timezone

from estate.telemetry.db import BucketIndex
from estate.telemetry.models import Event, HealthChange, IngestBatch, Rollup, Sample

BUCKET = 300  # seconds per rollup; charts read rollups in the same buckets
# One run rolls up at most this much time, so a backlog is worked off in short steps.
MAX_SPAN = timedelta(hours=6)


@dataclass
class RetentionResult:
    rollups: int = 0
    samples_purged: int = 0
    other_purged: int = 0


def floor_bucket(moment: datetime) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // BUCKET * BUCKET, tz=UTC)


def rollup_and_purge(*, now: datetime | None = None) -> RetentionResult:
    now = now or timezone.now()
    result = RetentionResult()
    with transaction.atomic():
        result.rollups = rollup(now=now)
    result.samples_purged, result.other_purged = purge(now=now)
    return result


def rollup(*, now: datetime) -> int:
    """Roll up the closed 5-minute buckets after the last one rolled up: one GROUP BY query.

    Samples that arrive for a bucket already rolled up (a shipper's late retry) stay raw only.
    """
    end = floor_bucket(now)
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
    rows = (
        Sample.objects.filter(ts__gte=start, ts__lt=end)
        .annotate(b=BucketIndex("ts", BUCKET))
        .values("component_id", "name", "b")
        .annotate(lo=Min("value"), hi=Max("value"), mean=Avg("value"), n=Count("pk"))
    )
    rollups = [
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
    Rollup.objects.bulk_create(rollups, batch_size=2000, ignore_conflicts=True)
    return len(rollups)


def purge(*, now: datetime) -> tuple[int, int]:
    """Delete raw samples past the retention; rollups, events, changes and idempotency keys past theirs.

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
