"""Every page of the UI, the API docs and the admin load under the content security policy.

The init script reports each "securitypolicyviolation" event to the console, so an inline script
or style the policy blocks fails the test, as do Chromium's own "Refused to ..." messages.
"""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Page, expect

from estate.inventory.models import Component
from estate.operations.models import Operation

pytestmark = pytest.mark.browser

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber} sample=${event.sample}`);
});
"""
CSP_MESSAGE = re.compile(r"CSP violation|Content Security Policy|Refused to", re.IGNORECASE)
# ReDoc's sidebar footer always loads its vendor's logo from a CDN; the policy blocks it on
# purpose (no third-party requests), and ReDoc then hides the image (its onError handler).
EXPECTED_BLOCKS = ("https://cdn.redoc.ly/",)


def _is_violation(text: str) -> bool:
    return bool(CSP_MESSAGE.search(text)) and not any(url in text for url in EXPECTED_BLOCKS)


@pytest.fixture
def demo_estate(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def csp_page(page: Page):
    violations: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda msg: _is_violation(msg.text) and violations.append(f"{page.url}: {msg.text}"))
    page.on("pageerror", lambda error: violations.append(f"{page.url}: script error: {error}"))
    page.set_default_timeout(15_000)
    yield page, violations
    assert violations == [], "\n".join(violations)


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, url
    assert response.headers.get("content-security-policy"), url
    page.wait_for_load_state("networkidle")


def test_every_page_satisfies_the_content_security_policy(csp_page, site: str, demo_estate):
    page, violations = csp_page
    _visit(page, f"{site}/login/")
    page.get_by_label("Username").fill(settings.DEMO_USERNAME)
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")
    page.wait_for_load_state("networkidle")

    component = Component.objects.order_by("pk").first()
    operation = Operation.objects.order_by("pk").first()
    assert component is not None and operation is not None
    for path in [
        "/",
        "/components/",
        f"/components/{component.pk}/",
        "/components/new/",
        "/findings/",
        "/patching/windows/",
        "/patching/windows/new/",
        "/patching/freezes/",
        "/operations/",
        f"/operations/{operation.pk}/",
        "/audit/",
        "/outbox/",
        "/catalog/",
        "/account/tokens/",
        "/admin/",
    ]:
        _visit(page, f"{site}{path}")

    # A new token's secret, and the button that copies it (app.js, no inline handler).
    _visit(page, f"{site}/account/tokens/")
    page.get_by_label("Name").fill("csp check")
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()

    _visit(page, f"{site}/patching/calendar/")
    expect(page.locator(".fc-dayGridMonth-view")).to_be_visible()
    page.get_by_role("button", name="Week").click()
    expect(page.locator(".fc-timeGridWeek-view")).to_be_visible()
    page.get_by_role("button", name="Next 30 days").click()
    expect(page.locator(".fc-list")).to_be_visible()
    # FullCalendar's injected <style> took the nonce: its layout rules apply.
    assert page.locator("style[data-fullcalendar]").count() == 1

    _visit(page, f"{site}/api/docs/")
    expect(page.locator(".swagger-ui .information-container")).to_be_visible()
    _visit(page, f"{site}/api/redoc/")
    expect(page.locator(".api-content")).to_be_visible()
