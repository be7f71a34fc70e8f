"""Health has one owner: patch windows move components in and out of maintenance through telemetry's
services, and every transition, maintenance included, leaves its HealthChange."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.inventory.choices import Health
from estate.inventory.models import Component
from estate.patching import services as patching
from estate.telemetry import services
from estate.telemetry.models import HealthChange
from tests.factories import BastionComponentFactory
from tests.patching.conftest import make_window

pytestmark = pytest.mark.django_db


def history(component) -> list[tuple[str, str]]:
    return list(HealthChange.objects.filter(component=component).order_by("id").values_list("from_state", "to_state"))


def test_a_patch_window_records_entering_and_leaving_maintenance():
    database = BastionComponentFactory(health=Health.HEALTHY)
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    window = make_window([database], start, title="Orders patch")
    occurrence = patching.occurrence_start(occurrence=patching.occurrence_materialise(window, start))
    database.refresh_from_db()
    assert database.health == Health.MAINTENANCE and "Orders patch" in database.health_reason
    patching.occurrence_close(occurrence=occurrence)
    database.refresh_from_db()
    assert database.health == Health.UNKNOWN
    assert history(database) == [(Health.HEALTHY, Health.MAINTENANCE), (Health.MAINTENANCE, Health.UNKNOWN)]


def test_entering_maintenance_twice_records_one_change():
    database = BastionComponentFactory(health=Health.DEGRADED)
    assert services.maintenance_begin(component_ids=[database.pk], reason="window") == 1
    assert services.maintenance_begin(component_ids=[database.pk], reason="window") == 0
    assert history(database) == [(Health.DEGRADED, Health.MAINTENANCE)]


def test_leaving_maintenance_leaves_other_components_alone():
    inside, outside = BastionComponentFactory(health=Health.MAINTENANCE), BastionComponentFactory(health=Health.DOWN)
    assert services.maintenance_end(component_ids=[inside.pk, outside.pk], reason="closed") == 1
    assert Component.objects.get(pk=outside.pk).health == Health.DOWN
    assert history(outside) == []
