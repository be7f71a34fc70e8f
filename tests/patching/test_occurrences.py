"""Occurrence actions (service and API) and the beat tasks that start and flag them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from estate.core.errors import ApplicationError
from estate.patching import services, tasks
from estate.patching.models import Occurrence
from tests.factories import BastionComponentFactory
from tests.patching.conftest import NOW, make_window

TOMORROW = NOW + timedelta(days=1)


@pytest.fixture
def weekly(now, db1):
    return make_window([db1], TOMORROW, rrule="FREQ=WEEKLY", runbook=["Fail over", "Patch", "Fail back"])


def _key(window, start):
    return f"{window.pk}-{int(start.timestamp())}"


def test_occurrence_identity_is_window_and_original_start(weekly):
    first = services.occurrence_materialise(weekly, TOMORROW)
    again = services.occurrence_materialise(weekly, TOMORROW)
    assert first.pk == again.pk
    with pytest.raises(ApplicationError, match="no occurrence"):
        services.occurrence_materialise(weekly, TOMORROW + timedelta(hours=1))


def test_start_puts_components_in_maintenance_and_complete_takes_them_out(weekly, db1, admin_user, time_machine):
    time_machine.move_to(TOMORROW, tick=False)
    occurrence = services.occurrence_start(
        occurrence=services.occurrence_materialise(weekly, TOMORROW), actor=admin_user
    )
    db1.refresh_from_db()
    assert (occurrence.status, db1.health) == ("in_progress", "maintenance")
    assert "Patch" in db1.health_reason
    done = services.occurrence_close(
        occurrence=occurrence,
        actor=admin_user,
        notes="ok",
        engine_version_before="16.4",
        engine_version_after="16.5",
        steps_done=[0, 2],
    )
    db1.refresh_from_db()
    assert (done.status, done.ran_by, done.steps_done, db1.health) == ("completed", admin_user, [0, 2], "unknown")
    with pytest.raises(ApplicationError, match="Cannot start"):
        services.occurrence_start(occurrence=done)


def test_runbook_steps_out_of_range_are_refused(weekly):
    from django.core.exceptions import ValidationError

    occurrence = services.occurrence_materialise(weekly, TOMORROW)
    with pytest.raises(ValidationError, match="numbered 0 to 2"):
        services.occurrence_tick(occurrence=occurrence, steps_done=[3])


def test_skip_and_move_leave_the_series_intact(weekly):
    from estate.patching import selectors

    services.occurrence_skip(occurrence=services.occurrence_materialise(weekly, TOMORROW))
    second = services.occurrence_materialise(weekly, TOMORROW + timedelta(days=7))
    services.occurrence_move(occurrence=second, start=TOMORROW + timedelta(days=8))
    views = selectors.occurrences_between([weekly], NOW, NOW + timedelta(days=22))
    assert [(v.status, v.start - NOW) for v in views] == [
        ("skipped", timedelta(days=1)),
        ("planned", timedelta(days=9)),
        ("planned", timedelta(days=15)),
    ]
    assert [v.moved for v in views] == [False, True, False]


def test_beat_starts_due_occurrences_and_flags_those_left_open(weekly, db1, time_machine):
    other = BastionComponentFactory(name="elsewhere")
    time_machine.move_to(TOMORROW + timedelta(minutes=1), tick=False)
    assert tasks.start_due_occurrences() == 1
    assert tasks.start_due_occurrences() == 0  # claimed once
    occurrence = Occurrence.objects.get()
    db1.refresh_from_db()
    other.refresh_from_db()
    assert (occurrence.status, db1.health, other.health) == ("in_progress", "maintenance", "unknown")
    time_machine.move_to(TOMORROW + timedelta(hours=1, minutes=1), tick=False)
    assert tasks.flag_overdue_occurrences() == 1
    assert tasks.flag_overdue_occurrences() == 0
    occurrence.refresh_from_db()
    db1.refresh_from_db()
    assert occurrence.overdue_at is not None and occurrence.status == "in_progress"
    assert db1.health == "unknown"


def test_beat_does_not_start_paused_or_skipped_occurrences(weekly, time_machine):
    services.occurrence_skip(occurrence=services.occurrence_materialise(weekly, TOMORROW))
    time_machine.move_to(TOMORROW + timedelta(minutes=1), tick=False)
    assert tasks.start_due_occurrences() == 0
    services.window_set_paused(window=weekly, paused=True)
    time_machine.move_to(TOMORROW + timedelta(days=7, minutes=1), tick=False)
    assert tasks.start_due_occurrences() == 0


def test_api_lists_occurrences_in_a_range(api, weekly):
    response = api.get("/api/v1/occurrences/", {"start": "2027-03-01", "end": "2027-03-20"})
    assert response.status_code == 200
    assert [o["start"] for o in response.json()] == [
        "2027-03-02T12:00:00Z",
        "2027-03-09T12:00:00Z",
        "2027-03-16T12:00:00Z",
    ]
    assert api.get("/api/v1/occurrences/", {"start": "2027-03-01", "end": "2029-03-01"}).status_code == 400


def test_api_actions_return_the_row(api, weekly, time_machine):
    key = _key(weekly, TOMORROW)
    time_machine.move_to(TOMORROW, tick=False)
    started = api.post(f"/api/v1/occurrences/{key}/start/")
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress" and started.json()["ran_by"] == "admin"
    done = api.post(
        f"/api/v1/occurrences/{key}/complete/",
        {"notes": "fine", "engine_version_after": "16.5", "steps_done": [0, 1, 2]},
        format="json",
    )
    assert done.json()["status"] == "completed" and done.json()["steps_done"] == [0, 1, 2]
    again = api.post(f"/api/v1/occurrences/{key}/complete/")
    assert again.status_code == 409 and "Cannot complete" in again.json()["detail"]


def test_api_skip_and_move(api, weekly):
    assert api.post(f"/api/v1/occurrences/{_key(weekly, TOMORROW)}/skip/").json()["status"] == "skipped"
    second = _key(weekly, TOMORROW + timedelta(days=7))
    moved = api.post(
        f"/api/v1/occurrences/{second}/move/", {"start": (TOMORROW + timedelta(days=8)).isoformat()}, format="json"
    )
    assert moved.status_code == 200
    assert moved.json()["moved"] is True and moved.json()["key"] == second


def test_viewer_cannot_act_on_occurrences(viewer_api, weekly):
    response = viewer_api.post(f"/api/v1/occurrences/{_key(weekly, TOMORROW)}/start/")
    assert response.status_code == 403


def test_unknown_occurrence_key_is_404(api, weekly):
    assert api.get(f"/api/v1/occurrences/{weekly.pk}-1/").status_code == 404
    assert api.get("/api/v1/occurrences/999-1/").status_code == 404


def test_a_new_schedule_drops_the_old_series_exceptions(weekly):
    from estate.patching import selectors

    services.occurrence_skip(occurrence=services.occurrence_materialise(weekly, TOMORROW))
    services.window_save(window=weekly, data={"start": TOMORROW + timedelta(hours=2)})
    views = selectors.occurrences_between([weekly], NOW, NOW + timedelta(days=8))
    assert [(v.status, v.start) for v in views] == [("planned", TOMORROW + timedelta(hours=2))]


def test_api_skip_and_cancel_refuse_a_body_that_is_not_an_object(api, weekly):
    """Schemathesis: a JSON list as the body was a 500 ('list' has no .get); now a 400 in the one shape."""
    key = _key(weekly, TOMORROW)
    for action in ("skip", "cancel"):
        response = api.post(f"/api/v1/occurrences/{key}/{action}/", [None, None], format="json")
        assert response.status_code == 400, response.content
        assert set(response.json()) == {"detail", "errors"}
        assert "non_field_errors" in response.json()["errors"]


def test_api_an_epoch_past_what_a_datetime_holds_is_404(api, weekly):
    """Schemathesis: a key whose epoch overflowed datetime.fromtimestamp was a 500."""
    response = api.post(f"/api/v1/occurrences/{weekly.pk}-8910673300301492356912/skip/", {}, format="json")
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "errors"}


def test_looking_at_an_occurrence_stores_nothing(now, admin_client, api, db1):
    window = make_window([db1], NOW + timedelta(days=1), rrule="FREQ=WEEKLY")
    key = f"{window.pk}-{int(window.start.timestamp())}"
    assert admin_client.get(f"/patching/occurrences/{key}/").status_code == 200
    assert api.get(f"/api/v1/occurrences/{key}/").json()["status"] == "planned"
    assert not Occurrence.objects.exists()  # a calendar feed's ETag does not move because someone looked
    assert api.get(f"/api/v1/occurrences/{window.pk}-{int(window.start.timestamp()) + 60}/").status_code == 404
