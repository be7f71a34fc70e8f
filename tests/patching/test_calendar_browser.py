"""In the browser: open the calendar, switch views, open an occurrence, plan a window that
conflicts, read the conflict, fix it, save."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from estate.catalog.demo import load_demo_inventory
from estate.inventory.models import Component
from estate.patching.demo import load_demo_patching
from estate.patching.models import Occurrence, PatchWindow

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def demo_estate(transactional_db):
    # The inventory and patching parts of the demo, and its login (not the other apps' parts).
    load_demo_inventory()
    load_demo_patching()
    get_user_model().objects.create_superuser(settings.DEMO_USERNAME, password=settings.DEMO_PASSWORD)


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"patching-{name}.png", full_page=True)


def test_calendar_views_occurrence_and_a_conflicting_window_fixed(user_page: Page, site: str, demo_estate):
    page = user_page
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(settings.DEMO_USERNAME)
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")

    page.locator(".navbar").get_by_role("link", name="Calendar").click()
    page.wait_for_url(f"{site}/patching/calendar/")
    expect(page.get_by_test_id("calendar-event").first).to_be_visible()
    _shot(page, "01-month")
    page.get_by_role("button", name="Week").click()
    expect(page.locator(".fc-timeGridWeek-view")).to_be_visible()
    page.get_by_role("button", name="Next 30 days").click()
    expect(page.locator(".fc-list")).to_be_visible()
    expect(page.get_by_test_id("calendar-event").first).to_be_visible()
    _shot(page, "02-agenda")

    page.get_by_test_id("calendar-event").first.locator("a, .fc-list-event-title").first.click()
    expect(page.get_by_test_id("occurrence")).to_be_visible()
    expect(page.get_by_test_id("runbook")).to_contain_text("Fail over")
    expect(page.get_by_test_id("blast-radius")).to_be_visible()
    _shot(page, "03-occurrence")
    page.get_by_test_id("action-start").click()
    expect(page.get_by_test_id("occurrence-status")).to_have_text("In progress")
    page.get_by_label("Engine version after").fill("16.5")
    page.get_by_test_id("action-complete").click()
    expect(page.get_by_test_id("occurrence-status")).to_have_text("Completed")
    assert Occurrence.objects.get().engine_version_after == "16.5"

    # Plan a window on a database that already has one at that time.
    existing = PatchWindow.objects.get(title__startswith="storefront-db-1 (production)")
    database = Component.objects.get(slug="storefront-db-1", environment__slug="production")
    local = timezone.localtime(existing.start, existing.tz)
    page.get_by_test_id("new-window").click()
    page.wait_for_url(f"{site}/patching/windows/new/")
    page.get_by_label("Title").fill("Extra kernel patch")
    page.get_by_label("Components").select_option(str(database.pk))
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_label("Duration (minutes)").fill("60")
    page.get_by_label("Start").fill(local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Start").dispatch_event("change")
    expect(page.get_by_test_id("conflict-error")).to_contain_text(f"Overlaps “{existing.title}”")
    _shot(page, "04-conflict")

    later = local + timedelta(hours=3)
    page.get_by_label("Start").fill(later.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Start").dispatch_event("change")
    expect(page.get_by_test_id("no-conflicts")).to_be_visible()
    expect(page.get_by_test_id("preview")).to_contain_text(later.strftime("%Y-%m-%d %H:%M"))
    page.get_by_test_id("save-window").click()
    page.wait_for_url(f"{site}/patching/windows/")
    expect(page.get_by_text("Patch window “Extra kernel patch” saved.")).to_be_visible()
    assert PatchWindow.objects.filter(title="Extra kernel patch").exists()
    expect(page).to_have_url(re.compile(r"/patching/windows/$"))
    _shot(page, "05-saved")
