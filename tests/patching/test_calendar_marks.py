"""The calendar marks what a person must see at a glance: occurrences that conflict (one component or one
cluster taken down twice at once, or inside a freeze that covers it) and occurrences that are overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest

from estate.patching.choices import FreezeScope, OccurrenceStatus
from estate.patching.models import Occurrence, PatchWindow
from tests.factories import BastionComponentFactory, ClusterFactory
from tests.patching.conftest import make_freeze, make_window

pytestmark = pytest.mark.django_db
TOMORROW = "2027-03-02T02:00:00Z"
WEEK = {"start": "2027-03-01T00:00:00Z", "end": "2027-03-08T00:00:00Z"}


def events(client) -> dict[str, dict]:
    return {e["extendedProps"]["windowTitle"]: e for e in client.get("/patching/calendar/events.json", WEEK).json()
            if not e["extendedProps"].get("freeze")}  # fmt: skip


def planted(components, *, title: str, start=TOMORROW) -> PatchWindow:
    """A window saved past the conflict rules, as happens when a cluster or freeze changes after planning."""
    window = PatchWindow.objects.create(
        title=title, start=start, duration=timedelta(hours=1), time_zone="UTC", series_end=None
    )
    window.components.set(components)
    return window


def test_titles_say_component_environment_and_change_kind(now, admin_client):
    db = BastionComponentFactory(name="orders-db", environment__slug="production")
    make_window([db], now + timedelta(days=1), title="Monthly patching", change_kind="minor_version")
    event = events(admin_client)["Monthly patching"]
    assert event["title"] == "orders-db (production) · Minor version"
    assert event["extendedProps"]["warnings"] == [] and "occurrence-conflict" not in event["classNames"]


def test_two_windows_on_one_component_at_once_are_both_marked(now, admin_client):
    db = BastionComponentFactory(name="orders-db")
    make_window([db], now + timedelta(days=1), title="First")
    planted([db], title="Second", start=now + timedelta(days=1, minutes=30))
    shown = events(admin_client)
    for title, other in (("First", "Second"), ("Second", "First")):
        assert shown[title]["title"].startswith("⚠ ")
        assert "occurrence-conflict" in shown[title]["classNames"]
        assert shown[title]["extendedProps"]["warnings"] == [f"Overlaps “{other}”: both take down orders-db."]


def test_cluster_members_patched_at_once_are_marked_and_a_skipped_occurrence_frees_the_slot(now, admin_client):
    cluster = ClusterFactory()
    primary = BastionComponentFactory(name="pg-1", cluster=cluster)
    replica = BastionComponentFactory(name="pg-2", cluster=cluster)
    first = make_window([primary], now + timedelta(days=1), title="Primary")
    planted([replica], title="Replica", start=now + timedelta(days=1))
    assert events(admin_client)["Replica"]["extendedProps"]["warnings"] == [
        "pg-2 and pg-1 are one cluster; “Primary” patches pg-1 at the same time."
    ]
    Occurrence.objects.create(
        window=first, original_start=first.start, start=first.start, end=first.start + first.duration,
        status=OccurrenceStatus.SKIPPED,
    )  # fmt: skip
    assert events(admin_client)["Replica"]["extendedProps"]["warnings"] == []


def test_an_occurrence_inside_a_freeze_of_its_environment_is_marked_another_environments_is_not(now, admin_client):
    prod = BastionComponentFactory(name="orders-db", environment__slug="production")
    staging = BastionComponentFactory(
        name="orders-db-staging",
        environment__slug="staging",
        environment__name="Staging",
        environment__is_production=False,
    )
    make_window([prod], now + timedelta(days=1), title="Prod")
    make_window([staging], now + timedelta(days=1), title="Staging")
    make_freeze(
        now + timedelta(hours=6), now + timedelta(days=3), name="Sale",
        scope=FreezeScope.ENVIRONMENT, environment=prod.environment,
    )  # fmt: skip
    shown = events(admin_client)
    assert shown["Prod"]["extendedProps"]["warnings"] == ["Inside change freeze “Sale” (environment Production)."]
    assert shown["Staging"]["extendedProps"]["warnings"] == []


def test_an_occurrence_still_in_progress_after_its_end_is_overdue(now, admin_client, time_machine):
    db = BastionComponentFactory(name="orders-db")
    window = make_window([db], now + timedelta(hours=1), title="Late")
    Occurrence.objects.create(
        window=window, original_start=window.start, start=window.start, end=window.start + window.duration,
        status=OccurrenceStatus.IN_PROGRESS,
    )  # fmt: skip
    assert events(admin_client)["Late"]["extendedProps"]["warnings"] == []
    time_machine.move_to(now + timedelta(hours=3), tick=False)
    late = events(admin_client)["Late"]
    assert "occurrence-overdue" in late["classNames"] and "occurrence-conflict" not in late["classNames"]
    assert late["extendedProps"]["warnings"] == ["Overdue: still in progress after its end."]
