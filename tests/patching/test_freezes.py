"""Change freezes: created through the API, imported from the .ics a team already keeps."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.files.uploadedfile import SimpleUploadedFile

from estate.patching.models import ChangeFreeze

ICS = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Team//Freezes//EN
BEGIN:VEVENT
UID:quarter-end@team
DTSTAMP:20270101T000000Z
DTSTART:20270330T000000Z
DTEND:20270402T000000Z
SUMMARY:Quarter-end freeze
END:VEVENT
BEGIN:VEVENT
UID:friday@team
DTSTAMP:20270101T000000Z
DTSTART;VALUE=DATE:20270305
DTEND;VALUE=DATE:20270306
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:No-deploy Friday
END:VEVENT
END:VCALENDAR
"""


def _upload(api, **extra):
    return api.post(
        "/api/v1/change-freezes/import/",
        {"file": SimpleUploadedFile("freezes.ics", ICS, "text/calendar"), **extra},
        format="multipart",
    )


def test_import_expands_recurring_events_and_is_idempotent(api, now):
    response = _upload(api)
    assert response.status_code == 201
    assert response.json() == {"created": 4, "updated": 0}
    assert _upload(api).json() == {"created": 0, "updated": 4}
    fridays = ChangeFreeze.objects.filter(name="No-deploy Friday").order_by("start")
    assert [f.start for f in fridays][0] == datetime(2027, 3, 5, tzinfo=UTC)
    assert fridays[0].end == datetime(2027, 3, 6, tzinfo=UTC)


def test_import_scoped_to_an_environment(api, now, db1):
    response = _upload(api, scope="environment", environment=db1.environment.slug)
    assert response.status_code == 201
    assert set(ChangeFreeze.objects.values_list("environment", flat=True)) == {db1.environment.pk}


def test_import_refuses_a_file_that_is_not_icalendar(api, now):
    response = api.post(
        "/api/v1/change-freezes/import/",
        {"file": SimpleUploadedFile("x.ics", b"hello", "text/calendar")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Not an iCalendar file")


def test_freeze_scope_must_match_its_target(api, now):
    body = {"name": "x", "scope": "environment", "start": "2027-03-05T00:00:00Z", "end": "2027-03-06T00:00:00Z"}
    response = api.post("/api/v1/change-freezes/", body, format="json")
    assert response.status_code == 400
    assert "environment" in response.json()["errors"]


def test_freeze_ends_after_it_starts(api, now):
    body = {"name": "x", "scope": "all", "start": "2027-03-05T00:00:00Z", "end": "2027-03-04T00:00:00Z"}
    assert api.post("/api/v1/change-freezes/", body, format="json").status_code == 400


def test_viewer_cannot_import(viewer_api, now):
    assert _upload(viewer_api).status_code == 403
