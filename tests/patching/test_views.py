"""The browser pages: wiring, permissions and the HTMX fragments."""

from __future__ import annotations

from datetime import timedelta

import pytest

from estate.access import roles
from estate.access.models import AccessScope, ApiToken
from estate.catalog.demo import load_demo_inventory
from estate.core.findings import finding_counts
from estate.patching.demo import load_demo_patching
from estate.patching.models import ChangeFreeze, FeedToken, PatchWindow
from tests.conftest import user_with_role
from tests.factories import TeamFactory
from tests.patching.conftest import NOW, make_freeze, make_window

TOMORROW = NOW + timedelta(days=1)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _form(db1, **extra):
    return {
        "title": "Orders weekly",
        "components": [db1.pk],
        "start": "2027-03-02T13:00",
        "duration_minutes": "60",
        "time_zone": "Europe/Paris",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "change_kind": "os_patch",
        "impact_kind": "failover_errors",
        "impact_seconds": "20",
        "runbook": "Fail over\nPatch\n\nFail back",
        **extra,
    }


def test_calendar_page_has_filters_legend_and_navbar_link(now, admin_client):
    page = admin_client.get("/patching/calendar/").content.decode()
    assert 'id="calendar"' in page and "Patch calendar" in page
    assert "Failover drill" in page and "In progress" in page
    assert 'name="change_kind"' in page and 'name="team"' in page


def test_calendar_requires_login(client):
    assert client.get("/patching/calendar/").status_code == 302


def test_events_are_bounded_to_the_range_and_filtered(now, admin_client, db1):
    make_window([db1], TOMORROW, rrule="FREQ=DAILY", change_kind="failover_drill")
    week = {"start": "2027-03-01T00:00:00Z", "end": "2027-03-08T00:00:00Z"}
    events = admin_client.get("/patching/calendar/events.json", week).json()
    assert len(events) == 6
    assert events[0]["backgroundColor"] == "#ae3ec9"
    assert events[0]["extendedProps"]["url"].startswith("/patching/occurrences/")
    none = admin_client.get("/patching/calendar/events.json", {**week, "change_kind": "os_patch"}).json()
    assert none == []
    assert admin_client.get("/patching/calendar/events.json").status_code == 400


def test_freezes_show_as_background_events(now, admin_client):
    make_freeze(TOMORROW, TOMORROW + timedelta(hours=6), name="Sale")
    events = admin_client.get("/patching/calendar/events.json", {"start": "2027-03-01", "end": "2027-03-08"}).json()
    assert [(e["display"], e["title"]) for e in events] == [("background", "Freeze: Sale (all components)")]


def test_month_view_query_count_does_not_grow_with_windows(now, admin_client, django_assert_max_num_queries):
    from tests.factories import BastionComponentFactory

    for i in range(12):
        make_window([BastionComponentFactory()], TOMORROW + timedelta(hours=i), rrule="FREQ=DAILY")
    with django_assert_max_num_queries(6):
        response = admin_client.get("/patching/calendar/events.json", {"start": "2027-03-01", "end": "2027-04-12"})
    assert response.status_code == 200
    assert len({event["id"].split("-")[0] for event in response.json()}) == 12  # every window, in those queries


def test_occurrence_panel_shows_runbook_blast_radius_and_acts(now, admin_client, db1, time_machine):
    window = make_window([db1], TOMORROW, runbook=["Fail over", "Patch"])
    key = f"{window.pk}-{int(TOMORROW.timestamp())}"
    panel = admin_client.get(f"/patching/occurrences/{key}/", headers={"HX-Request": "true"}).content.decode()
    assert "Fail over" in panel and 'data-testid="blast-radius"' in panel and "<html" not in panel
    started = admin_client.post(f"/patching/occurrences/{key}/start/", {"steps": ["0"]}, headers={"HX-Request": "true"})
    assert "In progress" in started.content.decode()
    assert started["HX-Trigger"] == "occurrence-changed"
    again = admin_client.post(f"/patching/occurrences/{key}/start/", headers={"HX-Request": "true"}).content.decode()
    assert "Cannot start an occurrence that is in progress" in again
    done = admin_client.post(f"/patching/occurrences/{key}/complete/", {"steps": ["0", "1"], "notes": "ok"})
    assert done.status_code == 302


def test_occurrence_page_for_unknown_key_is_404(now, admin_client):
    assert admin_client.get("/patching/occurrences/99-1/").status_code == 404


def test_viewer_cannot_act(now, client, viewer, db1):
    window = make_window([db1], TOMORROW)
    client.force_login(viewer)
    assert client.post(f"/patching/occurrences/{window.pk}-{int(TOMORROW.timestamp())}/start/").status_code == 403


def test_form_check_shows_conflicts_and_preview_before_saving(now, admin_client, db1):
    make_window([db1], NOW + timedelta(days=1, minutes=30), title="Existing window")
    checks = admin_client.post("/patching/windows/check/", _form(db1), headers={"HX-Request": "true"}).content.decode()
    assert "Overlaps “Existing window”" in checks
    assert "Tue 2027-03-02 12:00" in checks  # 13:00 Paris is 12:00 UTC in winter
    assert "Tue 2027-03-30 11:00" in checks  # and 11:00 UTC after the change to summer time
    assert "Tue 2027-03-30 13:00" in checks
    assert PatchWindow.objects.count() == 1


def test_form_refuses_a_conflict_then_saves_once_fixed(now, admin_client, db1):
    make_window([db1], NOW + timedelta(days=1, minutes=30), title="Existing window")
    refused = admin_client.post("/patching/windows/new/", _form(db1)).content.decode()
    assert "Overlaps “Existing window”" in refused
    saved = admin_client.post("/patching/windows/new/", _form(db1, start="2027-03-02T16:00"))
    assert saved.status_code == 302
    window = PatchWindow.objects.get(title="Orders weekly")
    assert window.runbook == ["Fail over", "Patch", "Fail back"]
    assert window.start == NOW + timedelta(days=1, hours=3)


def test_edit_and_pause_a_window(now, admin_client, db1):
    window = make_window([db1], TOMORROW + timedelta(hours=1), title="Orders weekly", rrule="FREQ=WEEKLY;BYDAY=TU")
    page = admin_client.get(f"/patching/windows/{window.pk}/edit/").content.decode()
    assert "2027-03-02T14:00" in page or "Orders weekly" in page
    assert admin_client.post(f"/patching/windows/{window.pk}/pause/", {"paused": "true"}).status_code == 302
    window.refresh_from_db()
    assert window.paused
    assert "paused" in admin_client.get("/patching/windows/").content.decode()


def test_freeze_page_adds_and_imports(now, admin_client):
    response = admin_client.post(
        "/patching/freezes/",
        {"form": "freeze", "name": "Sale", "scope": "all", "start": "2027-03-10T00:00", "end": "2027-03-12T00:00"},
    )
    assert response.status_code == 302
    assert ChangeFreeze.objects.get().name == "Sale"
    assert "Sale" in admin_client.get("/patching/freezes/").content.decode()


def test_feed_token_create_and_revoke_from_the_calendar(now, admin_client):
    admin_client.post("/patching/feeds/new/", {"name": "Web team", "team": "web"})
    token = FeedToken.objects.get()
    assert token.filters == {"team": "web"}
    shown = admin_client.get("/patching/calendar/").context["new_feed_url"]
    assert shown.startswith("http://testserver/patching/feed/estp_") and shown.endswith(".ics")
    assert token.api_token.key_hash == ApiToken.hash(shown.rsplit("/", 1)[1].removesuffix(".ics"))
    again = admin_client.get("/patching/calendar/")  # shown once: only the hash is kept
    assert again.context["new_feed_url"] is None and shown not in again.content.decode()
    assert admin_client.get(shown).status_code == 200
    admin_client.post(f"/patching/feeds/{token.pk}/revoke/")
    token.api_token.refresh_from_db()
    assert token.api_token.status == "revoked"
    assert admin_client.get(shown).status_code == 404


def test_demo_plans_windows_a_freeze_and_one_conflict(db):
    load_demo_inventory()
    assert load_demo_patching() == 13
    assert ChangeFreeze.objects.count() == 1
    assert finding_counts(kind="patch-window-conflict") == {"patch-window-conflict": 1}
    assert load_demo_patching() == 13
    assert PatchWindow.objects.count() == 13


@pytest.mark.parametrize("key", ["zzz", "1-99999999999999999999"])
def test_a_malformed_occurrence_key_is_a_404_page_not_a_500(admin_client, key):
    assert admin_client.get(f"/patching/occurrences/{key}/").status_code == 404
    assert admin_client.post(f"/patching/occurrences/{key}/start/").status_code == 404


def test_a_window_over_another_teams_database_is_refused_beside_the_components(now, client, db1):
    own_team = TeamFactory(slug="own")
    operator = user_with_role("op-own", roles.OPERATOR)
    AccessScope.objects.create(user=operator).teams.add(own_team)
    client.force_login(operator)
    refused = client.post("/patching/windows/new/", _form(db1))  # db1 belongs to another team
    assert refused.status_code == 403
    assert "limited to some teams and systems" in " ".join(refused.context["form"].errors["components"])
    assert not PatchWindow.objects.exists()
