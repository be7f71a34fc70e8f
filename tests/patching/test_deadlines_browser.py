"""In the browser: a vendor deadline on a database's page, its proposal, "Edit first" and "Accept" in one click."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from estate.access.roles import OPERATOR
from estate.patching import deadlines
from estate.patching.choices import DeadlineSource
from estate.patching.models import Deadline, PatchWindow
from tests.factories import BastionComponentFactory

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def database(transactional_db):
    db = BastionComponentFactory(name="orders-db", engine_version="13.14")
    action = deadlines.VendorAction(
        source=DeadlineSource.RDS,
        action="system-update",
        description="New Operating System update is available",
        auto_applied_after=timezone.now() + timedelta(days=30),
    )
    deadlines.vendor_deadlines_replace(read={db.pk: [action]}, sources=[DeadlineSource.RDS])
    deadlines.eol_deadlines_refresh()  # PostgreSQL 13 (shipped table): past its end of life
    user = get_user_model().objects.create_user("planner", password="planner-password-1")
    user.groups.add(Group.objects.get(name=OPERATOR))
    return db


def test_accept_a_proposal_in_one_click(user_page: Page, site: str, database):
    page = user_page
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("planner")
    page.get_by_label("Password").fill("planner-password-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")

    page.goto(f"{site}{database.get_absolute_url()}")
    card = page.get_by_test_id("deadlines-panel")
    rows = card.get_by_test_id("deadline")
    expect(rows).to_have_count(2)  # the end of life first (its date has passed), then AWS's action
    expect(rows.nth(0)).to_contain_text("PostgreSQL 13 end of life")
    expect(rows.nth(1)).to_contain_text("system-update")
    expect(rows.nth(1).get_by_test_id("proposal")).to_contain_text("60 min")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(SCREENSHOTS / "deadlines-panel.png"))

    rows.nth(1).get_by_test_id("edit-proposal").click()
    expect(page.get_by_label("Title")).to_have_value("system-update on orders-db")
    page.go_back()

    rows.nth(1).get_by_test_id("accept-proposal").click()
    expect(page.locator(".alert-success")).to_contain_text("planned for")
    expect(page.get_by_test_id("deadline").nth(1)).to_contain_text("Planned in system-update on orders-db")
    window = PatchWindow.objects.get()
    assert Deadline.objects.get(action="system-update").window == window
    # The end of life had proposed the same slot: it moved to the next free one.
    expect(page.get_by_test_id("deadline").nth(0).get_by_test_id("proposal")).not_to_contain_text(
        f"{window.start:%Y-%m-%d} 02:00"
    )
    page.screenshot(path=str(SCREENSHOTS / "deadlines-accepted.png"), full_page=True)
