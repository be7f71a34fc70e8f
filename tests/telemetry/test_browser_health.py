"""The health parts in a real browser: dashboard tiles, the filtered inventory, the component's
health panel with its charts, and the panel's refresh in place."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Page, expect

from estate.inventory.choices import Health
from estate.inventory.models import Component

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "reduced_motion": "reduce", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def site(live_server, transactional_db) -> str:
    call_command("load_demo", stdout=io.StringIO())
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def test_health_tiles_filtered_inventory_and_component_panel(user_page: Page, site: str):
    page = user_page
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(settings.DEMO_USERNAME)
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")

    counts = {state: Component.objects.filter(health=state).count() for state in Health.values}
    assert counts[Health.HEALTHY] and counts[Health.DEGRADED] and counts[Health.DOWN] and counts[Health.UNKNOWN]
    for state, count in counts.items():
        expect(page.get_by_test_id(f"health-{state}")).to_have_text(str(count))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "telemetry-01-dashboard.png", full_page=True)

    page.locator("a[href='/components/?health=down']").click()
    page.wait_for_url(re.compile(r"/components/\?health=down$"))
    expect(page.locator("#results .card-title")).to_have_text(re.compile(rf"^{counts[Health.DOWN]} components?$"))

    degraded = Component.objects.filter(health=Health.DEGRADED, health_reason__contains="(warning)").first()
    page.goto(f"{site}/components/{degraded.pk}/")
    expect(page.get_by_test_id("health-reason")).to_have_text(degraded.health_reason)
    expect(page.get_by_test_id("instance-health")).to_be_visible()
    assert page.evaluate("() => document.querySelectorAll('canvas[data-metric-index]').length") >= 1
    assert page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-metric-index]')].every(c => !!Chart.getChart(c))"
    )
    page.screenshot(path=SCREENSHOTS / "telemetry-02-component-health.png", full_page=True)

    # The panel refreshes in place: the next poll shows the new state, and the charts are drawn again.
    Component.objects.filter(pk=degraded.pk).update(health=Health.MAINTENANCE, health_reason="patch window")
    page.evaluate("() => { window.stillTheSamePage = true; }")
    page.evaluate(f"() => htmx.ajax('GET', '/components/{degraded.pk}/health/', '#health-live')")
    expect(page.get_by_test_id("health-reason")).to_have_text("patch window")
    assert page.evaluate("() => window.stillTheSamePage") is True
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas[data-metric-index]')].every(c => !!Chart.getChart(c))"
    )
