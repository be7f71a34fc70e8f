"""In the browser: "Plan a window" from a bastion's page, the component picker's search (limited to what the
person may plan), and the recurrence builder writing the RRULE that the live check previews."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from estate.access.models import AccessScope
from estate.access.roles import OPERATOR
from estate.inventory.models import Component
from estate.patching.models import PatchWindow
from tests.factories import BastionComponentFactory, TeamFactory

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def planner(transactional_db):
    """An operator limited to the payments team: the picker offers only its databases."""
    payments, other = TeamFactory(name="Payments", slug="payments"), TeamFactory(name="Search", slug="search")
    mine = [
        BastionComponentFactory(name="payments-db-1", team=payments, engine="postgresql", engine_version="16.3"),
        BastionComponentFactory(name="payments-db-2", team=payments),
        BastionComponentFactory(name="ledger-cache", team=payments),
    ]
    BastionComponentFactory(name="search-db", team=other)
    user = get_user_model().objects.create_user("planner", password="planner-password-1")
    user.groups.add(Group.objects.get(name=OPERATOR))
    AccessScope.objects.create(user=user).teams.set([payments])
    return mine


def _log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("planner")
    page.get_by_label("Password").fill("planner-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def _names(picker, only_visible: bool = False) -> list[str]:
    script = "(s, v) => Array.from(s.options).filter(o => !v || !o.hidden).map(o => o.text.split(' ')[0])"
    return picker.evaluate(script, only_visible)


def test_plan_a_window_from_a_component_with_the_picker_and_the_recurrence_builder(page: Page, site: str, planner):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    db1 = planner[0]
    _log_in(page, site)
    page.goto(f"{site}{db1.get_absolute_url()}")
    page.get_by_test_id("plan-window").click()
    page.wait_for_url(f"{site}/patching/windows/new/?component={db1.pk}")

    # Pre-filled: the component chosen, the title naming it and its engine.
    expect(page.get_by_label("Title")).to_have_value("Patch payments-db-1 (PostgreSQL 16.3)")
    picker = page.locator("select[name=components]")
    assert picker.evaluate("s => Array.from(s.selectedOptions).map(o => o.text.split(' ')[0])") == ["payments-db-1"]
    # Only what this person may plan is offered; the search narrows it and keeps the chosen one.
    assert sorted(_names(picker)) == ["ledger-cache", "payments-db-1", "payments-db-2"]
    page.get_by_test_id("picker-search").fill("db-2")
    assert _names(picker, only_visible=True) == ["payments-db-1", "payments-db-2"]

    page.get_by_label("Start").fill("2027-03-02T02:00")
    page.get_by_label("Time zone").select_option("UTC")
    rrule = page.locator("input[name=rrule]")
    builder = page.get_by_test_id("recurrence-builder")
    builder.get_by_text("Weekly", exact=True).click()
    builder.locator("label[for=recurrence-day-TU]").click()
    builder.locator("label[for=recurrence-day-TH]").click()
    expect(rrule).to_have_value("FREQ=WEEKLY;BYDAY=TU,TH")
    expect(rrule).to_have_attribute("readonly", "")
    expect(page.get_by_test_id("preview")).to_contain_text("Tue 2027-03-02 02:00")
    expect(page.get_by_test_id("preview")).to_contain_text("Thu 2027-03-04 02:00")

    builder.get_by_text("Monthly", exact=True).click()
    builder.locator("[data-nth]").select_option("2")
    builder.locator("[data-month-weekday]").select_option("TU")
    expect(rrule).to_have_value("FREQ=MONTHLY;BYDAY=2TU")
    # The first Tuesday is no second Tuesday: the check says so, and the second one is accepted.
    expect(page.get_by_test_id("conflicts")).to_contain_text("must itself be an occurrence")
    page.get_by_label("Start").fill("2027-03-09T02:00")
    expect(page.get_by_test_id("preview")).to_contain_text("Tue 2027-03-09 02:00")
    expect(page.get_by_test_id("preview")).to_contain_text("Tue 2027-04-13 02:00")
    page.set_viewport_size({"width": 1280, "height": 1300})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "patching-window-form-builder.png", full_page=True)

    page.get_by_test_id("save-window").click()
    page.wait_for_url(f"{site}/patching/windows/")
    window = PatchWindow.objects.get()
    assert window.rrule == "FREQ=MONTHLY;BYDAY=2TU" and list(window.components.all()) == [db1]

    # Editing reads the rule back into the builder; an RRULE it cannot say stays editable by hand.
    page.goto(f"{site}/patching/windows/{window.pk}/edit/")
    expect(page.locator("#recurrence-monthly")).to_be_checked()
    page.get_by_test_id("recurrence-builder").get_by_text("RRULE", exact=True).click()
    expect(rrule).not_to_have_attribute("readonly", "")
    assert errors == []


def test_plan_a_window_for_a_component_outside_ones_scope_preselects_nothing(page: Page, site: str, planner):
    outside = Component.objects.get(name="search-db")
    _log_in(page, site)
    page.goto(f"{site}/patching/windows/new/?component={outside.pk}")
    expect(page.get_by_label("Title")).to_have_value("")
    assert page.locator("select[name=components]").evaluate("s => s.selectedOptions.length") == 0
