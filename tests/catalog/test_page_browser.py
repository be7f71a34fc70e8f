"""In a browser: paste a catalog, read the plan, confirm it; no CSP violation on the way.

A screenshot of the plan lands in test-artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from estate.inventory.models import Component
from tests.catalog.conftest import BASE
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CSP = re.compile(r"Content.Security.Policy|Refused to (apply|execute|load)", re.I)


def test_admin_pastes_plans_and_applies_a_catalog(page: Page, site: str, transactional_db):
    admin = UserFactory(username="catalog-admin", is_superuser=True, is_staff=True)
    admin.set_password(settings.DEMO_PASSWORD)
    admin.save()
    problems: list[str] = []
    page.on("console", lambda msg: (msg.type == "error" or CSP.search(msg.text)) and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm before applying
    page.set_default_timeout(10_000)

    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("catalog-admin")
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")

    page.goto(f"{site}/catalog/")
    page.get_by_label("Catalog").fill(BASE)
    page.get_by_label("File name in messages").fill("shop.yaml")
    page.get_by_test_id("catalog-plan-button").click()
    expect(page.get_by_test_id("plan-row")).to_have_count(6)
    expect(page.get_by_test_id("plan-create")).to_have_text("6")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "catalog-plan.png"), full_page=True)

    page.get_by_role("button", name="Apply this plan").click()
    expect(page.get_by_text("Catalog shop.yaml applied: 6 created")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "catalog-applied.png"), full_page=True)
    assert Component.objects.count() == 2
    assert problems == []
