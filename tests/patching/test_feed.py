"""The iCalendar feed: valid RFC 5545, stable UIDs, exceptions, and honest conditional requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import recurring_ical_events
from django.test import Client
from django.utils import timezone
from django.utils.http import http_date
from icalendar import Calendar

from estate.access.models import ApiToken
from estate.patching import services
from tests.conftest import api_token
from tests.factories import BastionComponentFactory, TeamFactory
from tests.patching.conftest import NOW, make_window

START = datetime(2027, 3, 2, 1, 0, tzinfo=UTC)  # Tuesday 02:00 in Paris


@pytest.fixture
def window(now, db1):
    return make_window(
        [db1],
        START,
        time_zone="Europe/Paris",
        rrule="FREQ=WEEKLY;BYDAY=TU",
        title="Orders DB",
        runbook=["Fail over", "Patch"],
    )


@pytest.fixture
def token(admin_user):
    return services.feed_token_create(user=admin_user, name="Mine", filters={})


def _get(token, **headers):
    return Client().get(f"/patching/feed/{token.secret}.ics", headers=headers)


def _parse(response) -> Calendar:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    return Calendar.from_ical(response.content)


def _expand(calendar, days=42):
    return recurring_ical_events.of(calendar).between(NOW, NOW + timedelta(days=days))


def test_feed_is_valid_and_expands_with_wall_clock_time_across_dst(window, token):
    calendar = _parse(_get(token))
    assert calendar.get("VERSION") == "2.0"
    assert any(c.name == "VTIMEZONE" for c in calendar.walk())
    events = _expand(calendar)
    starts = [e["DTSTART"].dt.astimezone(UTC) for e in events]
    assert starts[:5] == [START + timedelta(days=7 * i) for i in range(4)] + [datetime(2027, 3, 30, 0, 0, tzinfo=UTC)]
    assert {str(e["UID"]) for e in events} == {f"patch-window-{window.pk}@estate"}
    assert "1. Fail over" in str(events[0]["DESCRIPTION"])


def test_uid_is_stable_across_changes(window, token):
    before = {str(e["UID"]) for e in _parse(_get(token)).walk("VEVENT")}
    services.window_save(window=window, data={"title": "Renamed"})
    after = _parse(_get(token))
    assert {str(e["UID"]) for e in after.walk("VEVENT")} == before
    assert str(next(iter(after.walk("VEVENT")))["SUMMARY"]) == "Renamed"


def test_moved_skipped_and_cancelled_occurrences_appear_as_exceptions(window, token):
    services.occurrence_skip(occurrence=services.occurrence_materialise(window, START))
    moved = services.occurrence_materialise(window, START + timedelta(days=7))
    services.occurrence_move(occurrence=moved, start=START + timedelta(days=8))
    cancelled = services.occurrence_materialise(window, START + timedelta(days=14))
    services.occurrence_skip(occurrence=cancelled, cancel=True)
    calendar = _parse(_get(token))
    vevents = calendar.walk("VEVENT")
    assert "EXDATE" in vevents[0]
    overrides = {e["RECURRENCE-ID"].dt.astimezone(UTC): e for e in vevents[1:]}
    assert set(overrides) == {START + timedelta(days=7), START + timedelta(days=14)}
    assert str(overrides[START + timedelta(days=14)]["STATUS"]) == "CANCELLED"
    expanded = {e["DTSTART"].dt.astimezone(UTC): e for e in _expand(calendar, days=22)}
    assert START not in expanded
    assert START + timedelta(days=8) in expanded and START + timedelta(days=7) not in expanded


def test_conditional_requests_answer_304_only_when_nothing_changed(window, token, time_machine):
    first = _get(token)
    etag = first["ETag"]
    assert _get(token, if_none_match=etag).status_code == 304
    time_machine.move_to(NOW + timedelta(minutes=5), tick=False)
    moved = services.occurrence_materialise(window, START + timedelta(days=7))
    services.occurrence_move(occurrence=moved, start=START + timedelta(days=8))
    changed = _get(token, if_none_match=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert _get(token, if_none_match=changed["ETag"]).status_code == 304


def test_if_modified_since_is_compared_not_assumed(window, token, time_machine):
    time_machine.move_to(NOW + timedelta(minutes=1), tick=False)
    response = _get(token)
    last_modified = response["Last-Modified"]
    assert _get(token, if_modified_since=last_modified).status_code == 304
    older = http_date((NOW - timedelta(days=1)).timestamp())
    assert _get(token, if_modified_since=older).status_code == 200
    time_machine.move_to(NOW + timedelta(minutes=2), tick=False)
    services.window_save(window=window, data={"title": "Changed"})
    time_machine.move_to(NOW + timedelta(minutes=3), tick=False)
    assert _get(token, if_modified_since=last_modified).status_code == 200


def test_deleting_a_window_changes_the_feed(window, token, time_machine):
    etag = _get(token)["ETag"]
    services.window_delete(window=window)
    response = _get(token, if_none_match=etag)
    assert response.status_code == 200
    assert not _parse(response).walk("VEVENT")


def test_team_feed_holds_only_that_teams_windows(now, admin_user, window):
    team = TeamFactory(name="Search", slug="search")
    make_window([BastionComponentFactory(team=team)], START, title="Search store")
    token = services.feed_token_create(user=admin_user, name="Search", filters={"team": "search"})
    titles = [str(e["SUMMARY"]) for e in _parse(_get(token)).walk("VEVENT")]
    assert titles == ["Search store"]


def test_revoked_token_stops_working(window, token, api):
    assert _get(token).status_code == 200
    assert api.post(f"/api/v1/feed-tokens/{token.pk}/revoke/").status_code == 200
    assert _get(token).status_code == 404
    assert Client().get("/patching/feed/not-a-token.ics").status_code == 404


def test_an_expired_feed_closes_and_a_tokens_page_feed_token_opens_every_window(window, token, admin_user):
    ApiToken.objects.filter(pk=token.api_token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _get(token).status_code == 404
    secret = api_token(admin_user, "feed")  # made on the tokens page: no filters of its own
    assert Client().get(f"/patching/feed/{secret}.ics").status_code == 200


def test_feed_tokens_api_creates_and_lists_own_tokens(api, viewer_api):
    response = api.post(
        "/api/v1/feed-tokens/", {"name": "Team", "filters": {"team": "web", "bogus": "x"}}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["filters"] == {"team": "web"}
    assert response.json()["url"].endswith(".ics")
    listed = api.get("/api/v1/feed-tokens/").json()["results"]
    assert "url" not in listed[0] and listed[0]["status"] == "active"
    assert viewer_api.get("/api/v1/feed-tokens/").json()["count"] == 0


@pytest.mark.parametrize("filters", [True, "team=web", ["team"]])
def test_feed_tokens_api_refuses_filters_that_are_not_an_object(api, filters):
    """Schemathesis: `filters: true` was a 500 ('bool' has no .items()); now a 400 naming the field."""
    response = api.post("/api/v1/feed-tokens/", {"name": "Team", "filters": filters}, format="json")
    assert response.status_code == 400, response.content
    assert "filters" in response.json()["errors"]
