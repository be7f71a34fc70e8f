"""The log rules page: admins add, refuse a bad pattern with the field named, toggle and delete in a real
browser; viewers read and may change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from estate.access import roles
from estate.telemetry.choices import MutationKind
from estate.telemetry.models import LogRule
from tests.conftest import user_with_role

SHOTS = Path("/tmp/shots_h8")
PASSWORD = "a-long-test-password"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "reduced_motion": "reduce", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def site(live_server, transactional_db, default_log_rules) -> str:
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def _login(page: Page, site: str, username: str, role: str) -> None:
    user = user_with_role(username, role)
    user.set_password(PASSWORD)
    user.save()
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


@pytest.mark.browser
def test_an_admin_adds_a_rule_a_bad_pattern_is_refused_then_toggles_and_deletes(page: Page, site: str):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    # CSP refusals show here too; the bad pattern's 400 is expected and checked below.
    page.on("console", lambda msg: msg.type == "error" and "status of 400" not in msg.text
            and problems.append(f"console: {msg.text}"))  # fmt: skip
    page.set_default_timeout(10_000)
    _login(page, site, "admin-h8", roles.ADMIN)

    page.get_by_role("button", name="More").click()
    page.get_by_role("link", name="Log rules").click()
    page.wait_for_url(f"{site}/telemetry/log-rules/")
    table = page.get_by_test_id("log-rule-table")
    expect(table).to_contain_text("sshd accepted login")  # the default rules are listed

    page.get_by_label("Name").fill("apt-install")
    page.get_by_label("Pattern").fill(r"apt(-get)? install \S+")
    page.get_by_label("Kind").select_option(MutationKind.PACKAGE_INSTALL)
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_test_id("log-rule-apt-install")).to_contain_text("Package install")
    expect(page.get_by_test_id("log-rule-apt-install")).to_contain_text("enabled")
    assert LogRule.objects.get(name="apt-install").pattern == r"apt(-get)? install \S+"

    page.get_by_label("Name").fill("broken")
    page.get_by_label("Pattern").fill("sudo (")
    page.get_by_label("Kind").select_option(MutationKind.CONFIG_CHANGE)
    with page.expect_response(lambda r: r.url.endswith("/telemetry/log-rules/")) as answer:
        page.get_by_role("button", name="Add rule").click()
    assert answer.value.status == 400
    expect(page.locator("#id_pattern_error")).to_contain_text("Not a regular expression")
    expect(page.get_by_label("Pattern")).to_have_attribute("aria-invalid", "true")
    assert not LogRule.objects.filter(name="broken").exists()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "log-rules-bad-pattern.png", full_page=True)

    row = page.get_by_test_id("log-rule-apt-install")
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_test_id("log-rule-apt-install")).to_contain_text("disabled")
    assert LogRule.objects.get(name="apt-install").enabled is False

    page.get_by_role("link", name="apt-install").click()
    page.get_by_label("Pattern").fill(r"(apt|dnf) install \S+")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{site}/telemetry/log-rules/")
    assert LogRule.objects.get(name="apt-install").pattern == r"(apt|dnf) install \S+"
    page.screenshot(path=SHOTS / "log-rules-list.png", full_page=True)

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete apt-install").click()
    expect(page.get_by_test_id("log-rule-apt-install")).to_have_count(0)
    assert not LogRule.objects.filter(name="apt-install").exists()
    assert asked and "apt-install" in asked[0]
    assert problems == []


def test_a_viewer_reads_the_rules_and_changes_nothing(client, db, default_log_rules):
    client.force_login(user_with_role("viewer-h8", roles.VIEWER))
    page = client.get("/telemetry/log-rules/")
    assert page.status_code == 200 and b"sshd accepted login" in page.content and b"Add rule" not in page.content
    rule = LogRule.objects.get(name="sshd accepted login")
    count = LogRule.objects.count()
    for url, data in [("/telemetry/log-rules/", {"name": "x", "pattern": "x", "kind": "ssh_session"}),
                      (f"/telemetry/log-rules/{rule.pk}/", {"name": "y", "pattern": "y", "kind": "ssh_session"}),
                      (f"/telemetry/log-rules/{rule.pk}/toggle/", {}),
                      (f"/telemetry/log-rules/{rule.pk}/delete/", {})]:  # fmt: skip
        assert client.post(url, data).status_code == 403, url
    rule.refresh_from_db()
    assert (rule.name, rule.enabled, LogRule.objects.count()) == ("sshd accepted login", True, count)


def test_an_admin_gets_the_same_pattern_rules_as_the_api(client, db, default_log_rules):
    client.force_login(user_with_role("admin-h8b", roles.ADMIN))
    answer = client.post("/telemetry/log-rules/", {"name": "nested", "pattern": "(a+)+$", "kind": "ssh_session"})
    assert answer.status_code == 400 and "can take forever" in answer.context["form"].errors["pattern"][0]
    duplicate = client.post(
        "/telemetry/log-rules/", {"name": "sshd accepted login", "pattern": "x", "kind": "ssh_session"}
    )
    assert duplicate.status_code == 400 and "name" in duplicate.context["form"].errors
    assert not LogRule.objects.filter(name="nested").exists()
