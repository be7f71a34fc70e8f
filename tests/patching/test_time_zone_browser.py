"""In the browser: a new window's zone is the viewer's (the browser's), and pages show a window's times
in that zone with UTC on hover, whether the server knew the zone (cookie) or the page re-rendered them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect

from tests.factories import BastionComponentFactory
from tests.patching.conftest import make_window

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ZONE = "America/New_York"
START = datetime(2027, 7, 6, 6, 0, tzinfo=UTC)  # 02:00 in New York (EDT)


@pytest.fixture
def new_york_page(browser: Browser):
    context = browser.new_context(timezone_id=ZONE, locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert problems == []


def _log_in(page: Page, site: str) -> None:
    get_user_model().objects.create_superuser("tz-admin", password="tz-admin-password")
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("tz-admin")
    page.get_by_label("Password").fill("tz-admin-password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def _zone_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == "estate_tz"), None)


def test_window_form_defaults_to_the_browsers_zone_and_pages_show_local_time_with_utc_title(
    new_york_page: Page, site: str, transactional_db
):
    page = new_york_page
    make_window([BastionComponentFactory(name="orders-db")], START, time_zone="Europe/Paris", title="Orders DB")
    _log_in(page, site)
    assert _zone_cookie(page) == ZONE  # remembered by timezone.js on the first page

    # No cookie yet on this request's way in: the script picks the browser's zone itself.
    page.context.clear_cookies(name="estate_tz")
    page.goto(f"{site}/patching/windows/new/")
    expect(page.get_by_label("Time zone")).to_have_value(ZONE)
    # With the cookie, the server renders the form with the zone already chosen.
    page.goto(f"{site}/patching/windows/new/")
    expect(page.locator("#id_time_zone option[selected]")).to_have_attribute("value", ZONE)

    page.goto(f"{site}/patching/windows/")
    shown = page.get_by_test_id("window-start").locator("time")
    expect(shown).to_have_text("Tue 2027-07-06 02:00 EDT")
    expect(shown).to_have_attribute("title", "Tue 2027-07-06 06:00 UTC")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "patching-time-zone-list.png", full_page=True)

    # A stale zone (the viewer travelled): rendered in it by the server, re-rendered by the page.
    page.context.add_cookies([{"name": "estate_tz", "value": "Asia/Tokyo", "url": site}])
    page.goto(f"{site}/patching/windows/")
    expect(shown).to_have_text("Tue 2027-07-06 02:00 EDT")
    expect(shown).to_have_attribute("title", "Tue 2027-07-06 06:00 UTC")
    assert _zone_cookie(page) == ZONE
