"""Samples partitioned by day on PostgreSQL (migration 0006, estate/telemetry/partitions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from estate.telemetry import partitions
from estate.telemetry.db import insert_rows
from estate.telemetry.models import Sample
from estate.telemetry.retention import rollup_and_purge
from tests.conftest import ON_POSTGRES
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db

COLUMNS = ("component_id", "instance_id", "name", "value", "unit", "ts")
NOW = timezone.now().astimezone(UTC)


def _copy(component, moments):
    """The ingest's path: COPY on PostgreSQL."""
    insert_rows(Sample, COLUMNS, [(component.id, None, "cpu", float(i), "%", at) for i, at in enumerate(moments)])
    # Check the deferred foreign key now, as the ingest's commit does: a table with pending checks
    # in this (test) transaction cannot be dropped.
    _sql("SET CONSTRAINTS ALL IMMEDIATE")


def _sql(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _partition_count() -> int:
    return _sql("SELECT count(*) FROM pg_inherits WHERE inhparent = 'telemetry_sample'::regclass")[0][0]


def _where_rows_are() -> dict[str, int]:
    return dict(_sql("SELECT tableoid::regclass::text, count(*) FROM telemetry_sample GROUP BY 1"))


def _noon(days_ago: int) -> datetime:
    return datetime.combine(NOW.date() - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=12
    )


@pytest.mark.postgres
def test_the_samples_table_is_partitioned_by_range_of_ts_with_daily_and_default_partitions():
    assert _sql(
        "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
        "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
        "WHERE p.partrelid = 'telemetry_sample'::regclass"
    ) == [("r", "ts")]
    assert partitions.is_partitioned()
    assert _sql("SELECT to_regclass('telemetry_sample_default') IS NOT NULL")[0][0]
    partitions.ensure_partitions()
    days = partitions.day_partitions()
    assert NOW.date() in days and NOW.date() + timedelta(days=partitions.DAYS_AHEAD) in days
    # A unique constraint must hold the partition key: the primary key is (id, ts), ids still unique.
    assert _sql(
        "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
        "WHERE c.conrelid = 'telemetry_sample'::regclass AND c.contype = 'p'"
    ) == [(["id", "ts"],)]
    component = ImmutableComponentFactory()
    created = Sample.objects.bulk_create(
        [Sample(component=component, name="cpu", value=v, ts=NOW - timedelta(days=v)) for v in (0, 1)]
    )
    assert all(s.pk for s in created) and created[0].pk != created[1].pk


@pytest.mark.postgres
def test_samples_of_several_days_land_in_their_own_partitions_and_others_in_the_default():
    partitions.ensure_partitions(now=NOW)
    component = ImmutableComponentFactory()
    _copy(component, [_noon(2), _noon(1), _noon(1), _noon(0), _noon(60)])
    assert _where_rows_are() == {
        partitions.partition_name(_noon(2).date()): 1,
        partitions.partition_name(_noon(1).date()): 2,
        partitions.partition_name(_noon(0).date()): 1,
        "telemetry_sample_default": 1,
    }


@pytest.mark.postgres
def test_the_upkeep_makes_missing_days_and_moves_their_rows_out_of_the_default():
    later = NOW + timedelta(days=30)
    component = ImmutableComponentFactory()
    _copy(component, [later, later + timedelta(minutes=1)])
    assert _where_rows_are() == {"telemetry_sample_default": 2}
    before = _partition_count()
    created = partitions.ensure_partitions(now=later)
    assert created > 0 and _partition_count() == before + created
    assert _where_rows_are() == {partitions.partition_name(later.date()): 2}
    # The attached table got the parent's indexes, and a second run has nothing to do.
    indexes = _sql("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [partitions.partition_name(later.date())])
    assert indexes == [(4,)]
    assert partitions.ensure_partitions(now=later) == 0
    assert Sample.objects.filter(ts__gte=later - timedelta(minutes=1)).count() == 2


@pytest.mark.postgres
def test_retention_drops_the_old_days_partitions_and_keeps_the_recent_rows(settings):
    settings.TELEMETRY_RETENTION_DAYS = 7
    partitions.ensure_partitions(now=NOW - timedelta(days=10))  # the days 17 to 7 ago
    partitions.ensure_partitions(now=NOW)
    component = ImmutableComponentFactory()
    _copy(component, [_noon(days) for days in range(12)] + [_noon(60)])
    cutoff = NOW - timedelta(days=7)
    kept = Sample.objects.filter(ts__gte=cutoff).count()
    old_days = [day for day in partitions.day_partitions() if partitions.day_bounds(day)[1] <= cutoff]
    before = _partition_count()

    result = rollup_and_purge(now=NOW)

    assert len(old_days) >= 10 and result.partitions_dropped == len(old_days)
    assert _partition_count() == before - len(old_days)
    assert all(partitions.day_bounds(day)[1] > cutoff for day in partitions.day_partitions())
    assert Sample.objects.count() == kept and not Sample.objects.filter(ts__lt=cutoff).exists()
    # Only the edge day and the DEFAULT (the sample of 60 days ago) needed a DELETE.
    assert result.samples_purged == (1 if _noon(7) < cutoff else 0) + 1
    assert partitions.drop_partitions_before(cutoff) == 0


@pytest.mark.postgres
def test_deleting_a_component_deletes_its_samples_in_every_partition():
    partitions.ensure_partitions(now=NOW)
    doomed, other = ImmutableComponentFactory(), ImmutableComponentFactory()
    _copy(doomed, [_noon(3), _noon(1), _noon(0), _noon(90)])
    _copy(other, [_noon(3), _noon(0)])
    doomed.delete()
    assert list(Sample.objects.values_list("component_id", flat=True).distinct()) == [other.id]
    assert sum(_where_rows_are().values()) == 2


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite side")
def test_on_sqlite_the_samples_stay_one_plain_table_and_the_upkeep_does_nothing():
    assert not partitions.is_partitioned()
    assert partitions.ensure_partitions() == 0
    assert partitions.drop_partitions_before(NOW) == 0
