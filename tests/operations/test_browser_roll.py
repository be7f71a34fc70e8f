"""Roll a demo component in a real browser and watch the operation finish without reloading."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from estate.catalog.demo import load_demo_inventory
from estate.inventory.models import Component
from estate.operations import services
from estate.operations.demo import load_demo_operations
from estate.operations.models import Operation
from tests.factories import UserFactory
from tests.operations.conftest import run_to_end

pytestmark = pytest.mark.browser


@pytest.fixture
def site(live_server, transactional_db, monkeypatch) -> str:
    load_demo_inventory()
    load_demo_operations()
    UserFactory(username="roller", is_staff=True, is_superuser=True)
    # The test plays the worker, so that the page is seen queued first and then updating by itself.
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def _log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("roller")
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def test_roll_a_demo_component_and_watch_it_finish(page: Page, site: str):
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _log_in(page, site)

    component = Component.objects.get(slug="search-api", environment__slug="staging")
    page.goto(f"{site}{component.get_absolute_url()}")
    expect(page.get_by_test_id("operations-panel")).to_be_visible()
    expect(page.get_by_test_id("sandbox-note")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("roll").click()

    page.wait_for_url(f"{site}/operations/*/")
    expect(page.get_by_test_id("operation-state")).to_have_text("Queued")
    op = Operation.objects.get(component=component, state="queued")
    run_to_end(op)
    expect(page.get_by_test_id("operation-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("operation-progress")).to_have_text(
        f"{op.replacements.count()} of {op.replacements.count()} done"
    )
    expect(page.get_by_test_id("operation-log")).to_contain_text("Every instance replaced.")
    assert errors == []


def test_a_roll_with_a_promql_gate_that_fails_shows_the_check_and_rolls_back(page: Page, site: str, settings):
    settings.PROMETHEUS_URL = ""  # the condition cannot be answered: the gate fails when its bake ends
    page.set_default_timeout(15_000)
    _log_in(page, site)
    component = Component.objects.get(slug="search-api", environment__slug="staging")
    page.goto(f"{site}{component.get_absolute_url()}")
    page.get_by_test_id("gates").locator("summary").click()
    page.locator("input[name=bake_seconds]").fill("30")
    page.locator("textarea[name=analysis_queries]").fill('sum(rate(http_errors{job="$component"}[1m])) <= 0.05')
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("roll").click()
    page.wait_for_url(f"{site}/operations/*/")
    op = run_to_end(Operation.objects.get(component=component, state="queued"))
    assert op.params["rollback"] is True and op.params["bake_seconds"] == 30

    expect(page.get_by_test_id("operation-state")).to_have_text("Failed")
    check = page.get_by_test_id("analysis-check").filter(has_text="http_errors")
    expect(check).to_contain_text('sum(rate(http_errors{job="search-api"}[1m]))')
    expect(check).to_contain_text("no data")
    expect(check).to_contain_text("≤ 0.05")
    expect(page.get_by_test_id("analysis")).to_contain_text("failed")
    expect(page.get_by_test_id("operation-log")).to_contain_text("Rolling back")
    page.set_viewport_size({"width": 1280, "height": 1100})
    page.screenshot(path="/tmp/shots/analysis_failed.png", full_page=True)
