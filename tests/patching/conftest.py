from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from estate.patching import services
from estate.patching.models import ChangeFreeze
from tests.factories import BastionComponentFactory, ClusterFactory, ImmutableComponentFactory

# A fixed "now" for the tests: Monday 2027-03-01 12:00 UTC (Europe's DST starts 2027-03-28).
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


def make_window(components, start, *, duration=timedelta(hours=1), time_zone="UTC", rrule="", **extra):
    data = {
        "title": extra.pop("title", "Patch"),
        "components": list(components),
        "start": start,
        "duration": duration,
        "time_zone": time_zone,
        "rrule": rrule,
        **extra,
    }
    return services.window_save(data=data)


def make_freeze(start, end, **extra):
    return ChangeFreeze.objects.create(name=extra.pop("name", "Freeze"), start=start, end=end, **extra)


@pytest.fixture
def db1(db):
    return BastionComponentFactory(name="orders-db")


@pytest.fixture
def cluster_pair(db):
    cluster = ClusterFactory(name="pg-main")
    primary = BastionComponentFactory(name="pg-1", cluster=cluster, environment=cluster.environment, role="primary")
    replica = BastionComponentFactory(name="pg-2", cluster=cluster, environment=cluster.environment, role="replica")
    return primary, replica


@pytest.fixture
def service(db):
    return ImmutableComponentFactory(name="orders-api")
