"""The windows API: wiring, filters, pause as its own action, errors in the one shape."""

from __future__ import annotations

from datetime import timedelta

from estate.patching.models import PatchWindow, WindowDeletion
from tests.factories import BastionComponentFactory, TeamFactory
from tests.patching.conftest import NOW, make_window

TOMORROW = NOW + timedelta(days=1)


def _body(component, **extra):
    return {
        "title": "Orders weekly",
        "components": [component.pk],
        "start": TOMORROW.isoformat(),
        "duration": "01:00:00",
        "time_zone": "Europe/Paris",
        "rrule": "FREQ=WEEKLY",
        "change_kind": "minor_version",
        "impact_kind": "failover_errors",
        "impact_seconds": 20,
        "runbook": ["Fail over", "Patch", "Fail back"],
        **extra,
    }


def test_create_read_and_filter(now, api, db1):
    created = api.post("/api/v1/patch-windows/", _body(db1), format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["runbook"] == ["Fail over", "Patch", "Fail back"]
    assert created.json()["series_end"] is None
    other_team = TeamFactory(slug="other")
    make_window([BastionComponentFactory(team=other_team)], TOMORROW, title="Other")
    assert api.get("/api/v1/patch-windows/").json()["count"] == 2
    only = api.get("/api/v1/patch-windows/", {"team": "other"}).json()
    assert [w["title"] for w in only["results"]] == ["Other"]
    assert api.get("/api/v1/patch-windows/", {"change_kind": "minor_version"}).json()["count"] == 1


def test_a_full_update_never_unpauses(now, api, db1):
    window_id = api.post("/api/v1/patch-windows/", _body(db1), format="json").json()["id"]
    assert api.post(f"/api/v1/patch-windows/{window_id}/pause/").json()["paused"] is True
    updated = api.put(f"/api/v1/patch-windows/{window_id}/", _body(db1, title="Renamed", paused=False), format="json")
    assert updated.status_code == 200
    assert updated.json()["paused"] is True
    assert api.post(f"/api/v1/patch-windows/{window_id}/resume/").json()["paused"] is False


def test_invalid_rule_and_time_zone_are_field_errors(now, api, db1):
    response = api.post("/api/v1/patch-windows/", _body(db1, rrule="FREQ=NEVER", time_zone="Mars/Olympus"),
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"rrule", "time_zone"}


def test_delete_leaves_a_tombstone(now, api, db1):
    window = make_window([db1], TOMORROW)
    assert api.delete(f"/api/v1/patch-windows/{window.pk}/").status_code == 204
    assert not PatchWindow.objects.exists()
    assert WindowDeletion.objects.filter(window_id=window.pk).exists()


def test_viewer_reads_but_cannot_write(now, viewer_api, db1):
    make_window([db1], TOMORROW)
    assert viewer_api.get("/api/v1/patch-windows/").status_code == 200
    assert viewer_api.post("/api/v1/patch-windows/", _body(db1), format="json").status_code == 403


def test_warnings_come_back_on_create(now, api, db):
    from tests.factories import ImmutableComponentFactory

    cache, database = BastionComponentFactory(name="cache"), BastionComponentFactory(name="db")
    ImmutableComponentFactory(name="shop-api").depends_on.set([cache, database])
    make_window([cache], TOMORROW, title="Cache patch")
    created = api.post("/api/v1/patch-windows/", _body(database, rrule=""), format="json")
    assert created.status_code == 201
    assert "blast radius doubles" in created.json()["warnings"][0]


def test_a_start_with_fractions_of_a_second_is_kept_to_the_second_and_accepted(now, api, db1):
    """A script sending datetime.now().isoformat() must not meet "the start must itself be an occurrence"."""
    start = (TOMORROW + timedelta(seconds=30, microseconds=123456)).isoformat()
    created = api.post("/api/v1/patch-windows/", _body(db1, start=start), format="json")
    assert created.status_code == 201, created.json()
    window = PatchWindow.objects.get()
    assert window.start == TOMORROW + timedelta(seconds=30)
