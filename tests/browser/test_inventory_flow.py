"""A user's first visit: log in, read the dashboard, filter the inventory, add a database.

Screenshots of each step land in test-artifacts/screenshots/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Page, expect

from estate.inventory.models import STATEFUL_IMMUTABLE_MESSAGE, Component

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def browser_context_args(browser_context_args):
    """Reduced motion: the chart is drawn at once, so a screenshot shows it finished."""
    return {**browser_context_args, "reduced_motion": "reduce", "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def demo_estate(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def _log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    _shot(page, "01-login")
    page.get_by_label("Username").fill(settings.DEMO_USERNAME)
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")  # waits for the load event too, so the page's scripts have run


def test_login_dashboard_filter_and_add_a_database(user_page: Page, site: str, demo_estate):
    page = user_page
    _log_in(page, site)

    # The dashboard: the counts of the demo estate, the chart drawn, the kit's icon font loaded.
    total = Component.objects.count()
    bastions = Component.objects.filter(mode="bastion").count()
    assert total > bastions > 0
    expect(page.get_by_test_id("total")).to_have_text(str(total))
    expect(page.get_by_test_id("bastion")).to_have_text(str(bastions))
    expect(page.get_by_test_id("immutable")).to_have_text(str(total - bastions))
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('category-chart'))")
    page.evaluate("() => document.fonts.ready")
    assert page.evaluate("() => document.fonts.check('16px tabler-icons')")
    _shot(page, "02-dashboard")

    # The inventory: picking a mode re-renders the table in place (HTMX), no full reload.
    page.get_by_role("link", name="Inventory").first.click()
    page.wait_for_url(f"{site}/components/")
    expect(page.get_by_role("heading", name="Inventory")).to_be_visible()
    expect(page.locator("#results .card-title")).to_have_text(f"{total} components")
    expect(page.get_by_label("Mode")).to_have_value("")
    expect(page.get_by_label("Mode").locator("option:checked")).to_have_text("Any")
    page.evaluate("() => { window.stillTheSamePage = true; }")
    _shot(page, "03-inventory")

    page.get_by_label("Mode").select_option("bastion")

    expect(page.locator("#results .card-title")).to_have_text(f"{bastions} components")
    expect(page).to_have_url(re.compile(r"[?&]mode=bastion"))
    assert page.evaluate("() => window.stillTheSamePage") is True
    modes = page.locator("[data-testid=component-table] tbody tr td:nth-child(2)")
    assert modes.count() == min(bastions, 25)
    assert set(modes.all_inner_texts()) == {"Bastion"}
    _shot(page, "04-inventory-bastion")

    # A component's page.
    first = page.locator("[data-testid=component-table] tbody tr a.fw-bold").first
    name = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/components/\d+/$"))
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.get_by_role("heading", name="Dependencies")).to_be_visible()
    _shot(page, "05-component")

    # New component: a stateful database as immutable is refused next to the mode field.
    page.get_by_role("link", name="Inventory").first.click()
    page.wait_for_url(f"{site}/components/")
    page.get_by_role("link", name="New component").click()
    page.wait_for_url(f"{site}/components/new/")
    expect(page.get_by_role("heading", name="New component")).to_be_visible()
    page.get_by_label("Name").fill("orders-ledger-db")
    expect(page.get_by_label("Slug")).to_have_value("orders-ledger-db")
    page.get_by_label("Environment").select_option(label="Production")
    page.get_by_label("Category").select_option("database")
    page.get_by_label("Holds state").check()
    page.get_by_label("Immutable", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()

    expect(page.locator("#id_mode_error")).to_have_text(STATEFUL_IMMUTABLE_MESSAGE)
    expect(page.get_by_test_id("form-errors")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("orders-ledger-db")
    assert not Component.objects.filter(slug="orders-ledger-db").exists()
    _shot(page, "06-new-component-refused")

    # Fixed: a bastion with its engine. The immutable-only fields no longer apply.
    page.get_by_label("Bastion", exact=True).check()
    expect(page.get_by_label("Provider")).to_be_disabled()
    page.get_by_label("Engine", exact=True).select_option("postgresql")
    page.get_by_label("Engine version").fill("16.4")
    page.get_by_role("button", name="Save").click()

    page.wait_for_url(re.compile(r"/components/\d+/$"))
    created = Component.objects.get(slug="orders-ledger-db")
    expect(page).to_have_url(f"{site}/components/{created.pk}/")
    expect(page.locator("h1")).to_contain_text("orders-ledger-db")
    expect(page.locator("h1")).to_contain_text("Bastion")
    expect(page.get_by_role("alert")).to_contain_text("Component orders-ledger-db created.")
    assert (created.mode, created.holds_state, created.engine, created.provider) == (
        "bastion",
        True,
        "postgresql",
        "",
    )
    _shot(page, "07-component-created")


def test_dark_mode_toggle_switches_and_is_remembered(user_page: Page, site: str, demo_estate):
    page = user_page
    _log_in(page, site)
    page.emulate_media(color_scheme="light")
    page.reload()
    toggle = page.get_by_role("button", name="Switch light or dark theme")
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
    expect(toggle.locator(".ti")).to_have_class(re.compile(r"\bti-moon\b"))
    light_text = page.evaluate("() => Chart.defaults.color")

    toggle.click()

    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    expect(toggle.locator(".ti")).to_have_class(re.compile(r"\bti-sun\b"))
    # The chart's labels follow the theme, or they would be grey on grey.
    assert page.evaluate("() => Chart.defaults.color") != light_text
    body = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == body
    _shot(page, "08-dashboard-dark")
    page.get_by_role("link", name="Inventory").first.click()
    page.wait_for_url(f"{site}/components/")
    _shot(page, "09-inventory-dark")
    page.get_by_role("link", name="Findings").first.click()
    page.wait_for_url(f"{site}/findings/")
    expect(page.get_by_role("heading", name="Findings", exact=True)).to_be_visible()
    _shot(page, "10-findings-dark")
