"""On PostgreSQL the same-component rule is also an exclusion constraint: two racing requests, one wins."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, connections, transaction

from estate.core.errors import ApplicationError
from estate.patching import conflicts, services
from estate.patching.models import PatchWindow, Slot
from tests.factories import BastionComponentFactory
from tests.patching.conftest import NOW, make_window

pytestmark = pytest.mark.postgres


def test_exclusion_constraint_refuses_overlapping_slots_of_one_component(now, db1):
    window = make_window([db1], NOW + timedelta(days=1))
    other = PatchWindow.objects.create(title="raw", start=NOW, duration=timedelta(hours=1))
    start = NOW + timedelta(days=1, minutes=30)
    with pytest.raises(IntegrityError, match="slot_no_overlap_per_component"), transaction.atomic():
        Slot.objects.create(
            window=other, component=db1, original_start=start, start=start, end=start + timedelta(hours=1)
        )
    assert Slot.objects.filter(window=window).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_overlapping_creations_cannot_both_win(time_machine, monkeypatch):
    time_machine.move_to(NOW, tick=False)
    db = BastionComponentFactory(name="contended-db")
    barrier = threading.Barrier(2, timeout=10)
    real = conflicts.find_conflicts
    waited = threading.local()

    def find_then_wait(draft):
        # Both requests pass the Python check before either writes: only the database can decide.
        found = real(draft)
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()
        return found

    monkeypatch.setattr(services, "find_conflicts", find_then_wait)
    results: list = []

    def create(title: str, offset: int) -> None:
        try:
            make_window([db], NOW + timedelta(days=1, minutes=offset), title=title)
            results.append("saved")
        except ApplicationError as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(f"Request {i}", i * 10)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.setattr(services, "find_conflicts", real)
    assert sorted(map(str, results)).count("saved") == 1
    loser = next(r for r in results if r != "saved")
    assert loser.status == 409
    assert PatchWindow.objects.count() == 1
    assert connection.vendor == "postgresql"


def test_slot_refresh_logs_a_collision_beyond_the_checked_horizon_and_goes_on(now, db1, settings, caplog):
    settings.PATCHING_HORIZON_DAYS = 10
    make_window([db1], NOW + timedelta(days=50), title="Far away")
    daily = make_window([db1], NOW + timedelta(days=1), rrule="FREQ=DAILY", title="Daily")
    before = Slot.objects.filter(window=daily).count()
    settings.PATCHING_HORIZON_DAYS = 60
    services.slots_refresh()
    assert "now overlaps another window" in caplog.text
    assert Slot.objects.filter(window=daily).count() == before
