"""A start without an offset is wall-clock time in the window's zone; one the zone skips or repeats is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from estate.patching.models import PatchWindow
from estate.patching.recurrence import wall_clock
from tests.patching.conftest import make_window

NEW_YORK = "America/New_York"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _body(component, start, **extra):
    return {
        "title": "Orders",
        "components": [component.pk],
        "start": start,
        "duration": "01:00:00",
        "time_zone": NEW_YORK,
        "change_kind": "os_patch",
        "impact_kind": "failover_errors",
        **extra,
    }


def _form(component, start, **extra):
    return {
        "title": "Orders",
        "components": [component.pk],
        "start": start,
        "duration_minutes": "60",
        "time_zone": NEW_YORK,
        "change_kind": "os_patch",
        "impact_kind": "failover_errors",
        **extra,
    }


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2028-01-04T02:00:00", datetime(2028, 1, 4, 7, 0, tzinfo=UTC)),  # EST, UTC-5
        ("2027-07-06T02:00:00", datetime(2027, 7, 6, 6, 0, tzinfo=UTC)),  # EDT, UTC-4
    ],
)
def test_api_reads_a_naive_start_in_the_windows_zone(now, api, db1, wall, utc):
    response = api.post("/api/v1/patch-windows/", _body(db1, wall), format="json")
    assert response.status_code == 201, response.json()
    assert PatchWindow.objects.get(pk=response.json()["id"]).start == utc
    assert response.json()["start"] == utc.isoformat().replace("+00:00", "Z")


def test_api_keeps_a_start_with_an_offset_as_given(now, api, db1):
    response = api.post("/api/v1/patch-windows/", _body(db1, "2027-07-06T02:00:00+02:00"), format="json")
    assert response.status_code == 201, response.json()
    assert PatchWindow.objects.get(pk=response.json()["id"]).start == datetime(2027, 7, 6, 0, 0, tzinfo=UTC)


def test_api_refuses_a_wall_time_in_the_spring_gap_naming_start(now, api, db1):
    """New York skips 02:00-03:00 on 2027-03-14: 02:30 never happens there."""
    response = api.post("/api/v1/patch-windows/", _body(db1, "2027-03-14T02:30:00"), format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["start"]
    assert "does not exist in America/New_York" in response.json()["errors"]["start"][0]
    assert not PatchWindow.objects.exists()


def test_api_refuses_a_wall_time_that_happens_twice_and_takes_it_with_an_offset(now, api, db1):
    """New York shows 01:00-02:00 twice on 2027-11-07: without an offset 01:30 is two moments."""
    refused = api.post("/api/v1/patch-windows/", _body(db1, "2027-11-07T01:30:00"), format="json")
    assert refused.status_code == 400
    assert "happens twice" in refused.json()["errors"]["start"][0]
    assert "2027-11-07T01:30:00-04:00" in refused.json()["errors"]["start"][0]
    taken = api.post("/api/v1/patch-windows/", _body(db1, "2027-11-07T01:30:00-05:00"), format="json")
    assert taken.status_code == 201
    assert PatchWindow.objects.get().start == datetime(2027, 11, 7, 6, 30, tzinfo=UTC)


def test_api_partial_update_reads_a_naive_start_in_the_stored_zone(now, api, db1):
    window = make_window([db1], datetime(2027, 7, 6, 6, 0, tzinfo=UTC), time_zone=NEW_YORK)
    response = api.patch(f"/api/v1/patch-windows/{window.pk}/", {"start": "2027-07-13T03:00:00"}, format="json")
    assert response.status_code == 200, response.json()
    window.refresh_from_db()
    assert window.start == datetime(2027, 7, 13, 7, 0, tzinfo=UTC)


def test_api_conflicts_check_reads_the_draft_the_same_way(now, api, db1):
    gap = api.post("/api/v1/patch-windows/conflicts-check/", _body(db1, "2027-03-14T02:30:00"), format="json")
    assert gap.status_code == 400
    assert list(gap.json()["errors"]) == ["start"]
    fine = api.post("/api/v1/patch-windows/conflicts-check/", _body(db1, "2027-07-06T02:00:00"), format="json")
    assert fine.status_code == 200, fine.json()


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2028-01-04T02:00", datetime(2028, 1, 4, 7, 0, tzinfo=UTC)),
        ("2027-07-06T02:00", datetime(2027, 7, 6, 6, 0, tzinfo=UTC)),
    ],
)
def test_form_reads_the_start_in_the_windows_zone(now, admin_client, db1, wall, utc):
    response = admin_client.post("/patching/windows/new/", _form(db1, wall))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PatchWindow.objects.get().start == utc


def test_form_refuses_a_wall_time_in_the_spring_gap_beside_the_start(now, admin_client, db1):
    response = admin_client.post("/patching/windows/new/", _form(db1, "2027-03-14T02:30"))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["start"]
    assert "does not exist in America/New_York" in response.context["form"].errors["start"][0]
    assert not PatchWindow.objects.exists()


def test_wall_clock_keeps_aware_moments_and_refuses_out_of_range_ones():
    aware = datetime(2027, 3, 14, 2, 30, tzinfo=UTC)
    assert wall_clock(aware, NEW_YORK) is aware
    assert wall_clock(datetime(2027, 3, 14, 3, 0), NEW_YORK) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as exc:
        wall_clock(datetime(1, 1, 1, 0, 0), "Asia/Tokyo", "start")  # before year 1 in UTC
    assert list(exc.value.message_dict) == ["start"]


def test_api_move_reads_a_naive_start_in_the_windows_zone(now, api, db1):
    window = make_window([db1], datetime(2027, 7, 6, 6, 0, tzinfo=UTC), time_zone=NEW_YORK, rrule="FREQ=WEEKLY")
    key = f"{window.pk}-{int(window.start.timestamp())}"
    gap = api.post(f"/api/v1/occurrences/{key}/move/", {"start": "2027-03-14T02:30:00"}, format="json")
    assert gap.status_code == 400 and list(gap.json()["errors"]) == ["start"], gap.json()
    moved = api.post(f"/api/v1/occurrences/{key}/move/", {"start": "2027-07-07T02:00:00"}, format="json")
    assert moved.status_code == 200, moved.json()
    assert moved.json()["start"] == "2027-07-07T06:00:00Z"
