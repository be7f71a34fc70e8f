"""Occurrence actions are recorded with their own verbs."""

from __future__ import annotations

from datetime import timedelta

from estate.audit.choices import AuditAction
from estate.patching import services
from tests.audit.conftest import events, only_event
from tests.factories import BastionComponentFactory
from tests.patching.conftest import NOW, make_window


def _first_occurrence(now):
    window = make_window([BastionComponentFactory()], now + timedelta(days=1), rrule="FREQ=DAILY")
    return services.occurrence_materialise(window, window.start)


def test_skip_cancel_move_start_and_complete_are_recorded(time_machine, db):
    time_machine.move_to(NOW, tick=False)
    occurrence = _first_occurrence(NOW)
    services.occurrence_move(occurrence=occurrence, start=occurrence.start + timedelta(hours=2))
    moved = only_event(action=AuditAction.OCCURRENCE_MOVED)
    assert moved.object_type == "patching.occurrence"
    assert set(moved.changes) == {"start", "end"}
    services.occurrence_start(occurrence=occurrence)
    services.occurrence_close(occurrence=occurrence, notes="Patched to 16.6")
    started = only_event(action=AuditAction.OCCURRENCE_STARTED)
    assert started.changes == {"status": ["planned", "in_progress"]}
    completed = only_event(action=AuditAction.OCCURRENCE_COMPLETED)
    assert completed.changes["status"] == ["in_progress", "completed"]
    assert completed.changes["notes"] == ["", "Patched to 16.6"]


def test_skip_and_cancel_are_recorded(time_machine, db):
    time_machine.move_to(NOW, tick=False)
    window = make_window([BastionComponentFactory()], NOW + timedelta(days=1), rrule="FREQ=DAILY")
    first = services.occurrence_materialise(window, window.start)
    second = services.occurrence_materialise(window, window.start + timedelta(days=1))
    services.occurrence_skip(occurrence=first, notes="Release day")
    services.occurrence_skip(occurrence=second, cancel=True)
    assert only_event(action=AuditAction.OCCURRENCE_SKIPPED).changes["status"] == ["planned", "skipped"]
    assert only_event(action=AuditAction.OCCURRENCE_CANCELLED).changes["status"] == ["planned", "cancelled"]


def test_rescheduling_a_window_records_the_lapsed_occurrences_in_one_go(time_machine, db):
    time_machine.move_to(NOW, tick=False)
    window = make_window([BastionComponentFactory()], NOW + timedelta(days=1), rrule="FREQ=DAILY")
    services.occurrence_skip(occurrence=services.occurrence_materialise(window, window.start))
    services.window_save(window=window, data={"start": NOW + timedelta(days=1, hours=3)})
    lapsed = events(object_type="patching.occurrence", action=AuditAction.DELETE)
    assert len(lapsed) == 1
    assert lapsed[0].changes["status"] == "skipped"
