"""Pages show a window's times in the viewer's zone (their browser's, from its cookie) with UTC on hover."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from estate.patching.models import Occurrence
from tests.patching.conftest import make_freeze, make_window

START = datetime(2027, 7, 6, 6, 0, tzinfo=UTC)  # 02:00 in New York (EDT), 08:00 in Paris
ZONED = (
    '<time datetime="2027-07-06T06:00:00+00:00" data-zone="{zone}" data-part="datetime" '
    'title="Tue 2027-07-06 06:00 UTC">{text}</time>'
)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def window(now, db1):
    return make_window([db1], START, time_zone="Europe/Paris", title="Orders DB")


def test_window_list_shows_the_viewers_time_with_utc_on_hover(window, admin_client):
    admin_client.cookies["estate_tz"] = "America/New_York"
    page = admin_client.get("/patching/windows/").content.decode()
    assert ZONED.format(zone="America/New_York", text="Tue 2027-07-06 02:00 EDT") in page


@pytest.mark.parametrize("cookie", [None, "Mars/Olympus", "../../etc/passwd"])
def test_without_a_known_zone_times_are_utc_and_say_so(window, admin_client, cookie):
    if cookie:
        admin_client.cookies["estate_tz"] = cookie
    page = admin_client.get("/patching/windows/").content.decode()
    assert ZONED.format(zone="UTC", text="Tue 2027-07-06 06:00 UTC") in page


def test_occurrence_page_shows_the_viewers_time_and_the_windows_own(window, admin_client):
    admin_client.cookies["estate_tz"] = "America/New_York"
    key = Occurrence(window=window, original_start=START).key
    page = admin_client.get(f"/patching/occurrences/{key}/").content.decode()
    assert ZONED.format(zone="America/New_York", text="Tue 2027-07-06 02:00 EDT") in page
    assert 'data-part="time" title="Tue 2027-07-06 07:00 UTC">03:00 EDT</time>' in page
    assert "Tue 2027-07-06 08:00 – 09:00" in page  # in the window's zone, labelled as such


def test_new_window_form_defaults_to_the_viewers_zone(now, admin_client):
    admin_client.cookies["estate_tz"] = "Asia/Kolkata"
    form = admin_client.get("/patching/windows/new/").context["form"]
    assert form["time_zone"].value() == "Asia/Kolkata"
    assert form.fields["time_zone"].widget.attrs["data-default-zone"] == "browser"


def test_editing_a_window_keeps_its_own_zone(window, admin_client):
    admin_client.cookies["estate_tz"] = "Asia/Kolkata"
    form = admin_client.get(f"/patching/windows/{window.pk}/edit/").context["form"]
    assert form["time_zone"].value() == "Europe/Paris"
    assert "data-default-zone" not in form.fields["time_zone"].widget.attrs


def test_freeze_list_shows_the_viewers_time_with_utc_on_hover(now, admin_client):
    make_freeze(START, datetime(2027, 7, 8, 6, 0, tzinfo=UTC), name="Summer sale")
    admin_client.cookies["estate_tz"] = "America/New_York"
    page = admin_client.get("/patching/freezes/").content.decode()
    assert ZONED.format(zone="America/New_York", text="Tue 2027-07-06 02:00 EDT") in page
    assert 'title="Thu 2027-07-08 06:00 UTC">Thu 2027-07-08 02:00 EDT</time>' in page
