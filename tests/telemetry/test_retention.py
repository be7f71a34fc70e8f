from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from estate.telemetry.models import Event, HealthChange, IngestBatch, Rollup, Sample, StaleRollup
from estate.telemetry.retention import rollup_and_purge
from estate.telemetry.tasks import rollup_and_purge as rollup_task
from tests.factories import ImmutableComponentFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db

T0 = timezone.datetime(2026, 3, 1, 12, 0, tzinfo=timezone.UTC)


def _sample(component, value, at, name="cpu"):
    return Sample(component=component, name=name, value=value, ts=at)


def test_closed_five_minute_buckets_are_rolled_up_with_min_max_avg_count():
    component = ImmutableComponentFactory()
    Sample.objects.bulk_create(
        [
            _sample(component, 1, T0 + timedelta(minutes=1)),
            _sample(component, 3, T0 + timedelta(minutes=4, seconds=59)),
            _sample(component, 10, T0 + timedelta(minutes=5)),
            _sample(component, 99, T0 + timedelta(minutes=11)),  # its bucket is still open
        ]
    )
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        result = rollup_and_purge()
    assert result.rollups == 2
    first, second = Rollup.objects.order_by("bucket")
    assert (first.bucket, first.min, first.max, first.avg, first.count) == (T0, 1, 3, 2, 2)
    assert (second.bucket, second.count) == (T0 + timedelta(minutes=5), 1)
    # A bucket is rolled up two minutes after it closes (retention.SETTLE): T0+10's at T0+17.
    with time_machine.travel(T0 + timedelta(minutes=16), tick=False):
        assert rollup_task.apply() and Rollup.objects.count() == 2
    with time_machine.travel(T0 + timedelta(minutes=17), tick=False):
        assert rollup_task.apply() and Rollup.objects.count() == 3
    with time_machine.travel(T0 + timedelta(minutes=18), tick=False):
        assert rollup_and_purge().rollups == 0


def test_a_quiet_gap_does_not_hold_the_rollup_back():
    component = ImmutableComponentFactory()
    Sample.objects.bulk_create([_sample(component, 1, T0), _sample(component, 2, T0 + timedelta(hours=9))])
    with time_machine.travel(T0 + timedelta(hours=10), tick=False):
        rollup_and_purge()
        rollup_and_purge()
    assert Rollup.objects.count() == 2


def test_raw_samples_are_purged_after_the_retention_and_rollups_kept(settings):
    settings.TELEMETRY_RETENTION_DAYS = 7
    component = ImmutableComponentFactory()
    old, recent = T0 - timedelta(days=8), T0 - timedelta(days=1)
    Sample.objects.bulk_create([_sample(component, 1, old), _sample(component, 2, recent)])
    Event.objects.create(component=component, kind="deploy", ts=old)
    HealthChange.objects.create(component=component, at=old, from_state="unknown", to_state="healthy")
    with time_machine.travel(T0, tick=False):
        result = rollup_and_purge()
    assert list(Sample.objects.values_list("value", flat=True)) == [2]
    assert result.samples_purged == 1
    assert not Event.objects.exists()
    assert HealthChange.objects.exists()  # kept for a year
    assert Rollup.objects.filter(bucket__lt=T0 - timedelta(days=7)).exists()


def test_idempotency_keys_expire(settings):
    settings.TELEMETRY_IDEMPOTENCY_HOURS = 24
    with time_machine.travel(T0 - timedelta(days=2), tick=False):
        IngestBatch.objects.create(principal="token:1", key="old", body_hash="x", response={})
    with time_machine.travel(T0, tick=False):
        IngestBatch.objects.create(principal="token:1", key="new", body_hash="x", response={})
        rollup_and_purge()
    assert list(IngestBatch.objects.values_list("key", flat=True)) == ["new"]


def _send(shipper, component, value: float, at: datetime) -> None:
    item = {"type": "sample", "component": component.pk, "name": "cpu", "value": value, "timestamp": at.isoformat()}
    assert shipper.post(URL, [item], format="json").status_code == 201


def test_samples_sent_twenty_minutes_late_reach_their_rollup(shipper):
    component = ImmutableComponentFactory()
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        _send(shipper, component, 1, T0 + timedelta(minutes=1))
    with time_machine.travel(T0 + timedelta(minutes=8), tick=False):
        assert rollup_and_purge().rollups == 1
    with time_machine.travel(T0 + timedelta(minutes=21), tick=False):  # a shipper that was cut off catches up
        _send(shipper, component, 5, T0 + timedelta(minutes=2))
        _send(shipper, component, 3, T0 + timedelta(minutes=3))
    with time_machine.travel(T0 + timedelta(minutes=25), tick=False):
        assert rollup_task.apply()
    rollup = Rollup.objects.get(bucket=T0)
    assert (rollup.min, rollup.max, rollup.avg, rollup.count) == (1, 5, 3, 3)
    assert not StaleRollup.objects.exists()
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        rollup_and_purge()  # idempotent: nothing left to redo, nothing counted twice
    assert Rollup.objects.get(bucket=T0).count == 3


def test_a_sample_a_few_seconds_late_marks_no_bucket(shipper):
    component = ImmutableComponentFactory()
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=20), tick=False):
        _send(shipper, component, 1, T0 + timedelta(minutes=4, seconds=50))
    assert not StaleRollup.objects.exists()  # the bucket is rolled up two minutes after it closes
    with time_machine.travel(T0 + timedelta(minutes=7), tick=False):
        rollup_and_purge()
    assert Rollup.objects.get(bucket=T0).count == 1


def test_a_late_bucket_past_the_rollup_frontier_does_not_make_it_skip_buckets(shipper):
    component = ImmutableComponentFactory()
    first, middle, last = T0, T0 + timedelta(hours=6, minutes=30), T0 + timedelta(hours=7)
    Sample.objects.bulk_create([_sample(component, 1, first), _sample(component, 2, middle)])
    with time_machine.travel(T0 + timedelta(hours=7, minutes=10), tick=False):
        _send(shipper, component, 3, last)  # late, into a bucket the rollup has not reached yet
        rollup_and_purge()  # one run rolls at most six hours: only `first`
        rollup_and_purge()
    assert sorted(Rollup.objects.values_list("bucket", flat=True)) == [first, middle, last]


def test_a_replayed_backlog_is_rolled_up_again_over_several_short_runs(shipper, monkeypatch):
    monkeypatch.setattr("estate.telemetry.retention.STALE_PER_RUN", 1)
    component = ImmutableComponentFactory()
    Sample.objects.bulk_create([_sample(component, 1, T0), _sample(component, 1, T0 + timedelta(minutes=5))])
    with time_machine.travel(T0 + timedelta(minutes=15), tick=False):
        rollup_and_purge()
        _send(shipper, component, 3, T0 + timedelta(minutes=1))
        _send(shipper, component, 3, T0 + timedelta(minutes=6))
        rollup_and_purge()
        assert sorted(Rollup.objects.values_list("count", flat=True)) == [1, 2]
        rollup_and_purge()
    assert list(Rollup.objects.values_list("count", flat=True)) == [2, 2]
    assert not StaleRollup.objects.exists()
