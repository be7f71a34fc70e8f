"""In a browser: Sync now, the run's page following the worker live, the Source panel's Detach.

The sync itself runs in the test's thread, as a worker would, against the moto server; the page only
polls. Screenshots land in test-artifacts/screenshots/ for a human to look at. PostgreSQL: the worker
and the live server write and read at once (SQLite's shared in-memory test database locks tables).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from estate.discovery import services
from estate.discovery.models import DiscoverySource, SyncRun
from estate.inventory.models import Component
from tests.discovery.conftest import KEY_VARIABLE, SECRET_VARIABLE
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"discovery-{name}.png", full_page=True)


def _log_in(page: Page, site: str) -> None:
    admin = UserFactory(username="discovery-admin", is_superuser=True, is_staff=True)
    admin.set_password(settings.DEMO_PASSWORD)
    admin.save()
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill("discovery-admin")
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def test_sync_now_follows_the_run_live_and_detach_frees_the_component(user_page: Page, site, aws, transactional_db):
    page = user_page
    page.on("dialog", lambda dialog: dialog.accept())  # Detach asks first
    aws.group("web", "eu-west-1", 2, tags={"team": "shop"})
    aws.database("billing", "eu-west-1")
    source = DiscoverySource.objects.create(
        name="aws-prod", kind="aws", regions=["eu-west-1"], endpoint_url=aws.url, tag_keys={"team": "team"},
        access_key_id_env=KEY_VARIABLE, secret_access_key_env=SECRET_VARIABLE,
    )  # fmt: skip
    _log_in(page, site)
    page.locator("a.nav-link[href='/discovery/']").click()
    expect(page.get_by_test_id("last-run")).to_have_text("never")

    page.get_by_test_id("sync-now").click()
    expect(page.get_by_test_id("run-state")).to_have_text("Queued")
    expect(page.get_by_test_id("run-progress")).to_have_text("Waiting for a worker.")
    services.sync_execute(run_id=SyncRun.objects.get(source=source).pk)  # the worker's part
    expect(page.get_by_test_id("run-state")).to_have_text("Succeeded")  # no reload: the page polls
    expect(page.get_by_test_id("run-changes")).to_contain_text("web")
    _shot(page, "run")

    page.locator("a.nav-link[href='/discovery/']").click()
    expect(page.get_by_test_id("last-run")).to_contain_text("Succeeded")
    _shot(page, "sources")

    page.goto(f"{site}{Component.objects.get(slug='web').get_absolute_url()}")
    expect(page.get_by_test_id("managed-fields")).to_contain_text("name, category, mode")
    _shot(page, "component-managed")
    page.get_by_role("link", name=re.compile("Edit")).click()
    expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    expect(page.get_by_label("Description")).to_be_enabled()
    _shot(page, "form-managed")
    page.go_back()
    page.get_by_test_id("detach").click()
    expect(page.get_by_test_id("detached")).to_contain_text("Detached by discovery-admin")
    page.goto(re.sub(r"/$", "/edit/", page.url))
    expect(page.get_by_label("Name", exact=True)).to_be_enabled()
