"""The occurrence page as the run's console, in a real browser: start, watch, be refused, approve as someone else."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from estate.operations import services as operation_services
from estate.runbooks import services
from estate.runbooks.models import RunbookRun
from tests.operations.conftest import run_to_end
from tests.runbooks.conftest import open_occurrence, template

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

STEPS = [
    {"type": "gate", "name": "cluster healthy", "conditions": [{"kind": "health"}, {"kind": "lag", "max_seconds": 5}]},
    {"type": "action", "name": "patch the replica", "action": "patch", "target": "replicas"},
    {"type": "approval", "name": "approve the switchover"},
    {"type": "action", "name": "switch over", "action": "switchover", "target": "primary"},
]


@pytest.fixture
def console_site(live_server, monkeypatch) -> str:
    # The test plays the worker (run_to_end), so the page is seen changing by itself.
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)
    monkeypatch.setattr(operation_services, "dispatch", lambda op_id: None)
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def _log_in(page: Page, site: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pass-word-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def test_the_console_runs_asks_refuses_the_requester_and_takes_another_operators_approval(
    page: Page, console_site: str, cluster, members, requester, approver
):
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    occurrence = open_occurrence(members[:1], title="pg-main minor upgrade")
    template(STEPS, name="PostgreSQL minor upgrade", window=occurrence.window)
    url = f"{console_site}/patching/occurrences/{occurrence.key}/"

    _log_in(page, console_site, "requester")
    page.goto(url)
    console = page.get_by_test_id("runbook-console")
    expect(console.get_by_test_id("run-empty")).to_contain_text("PostgreSQL minor upgrade")
    console.get_by_test_id("run-start").click()
    expect(console.get_by_test_id("run-step")).to_have_count(4)

    run_to_end(RunbookRun.objects.get().operation)  # the worker: up to the approval
    expect(console.get_by_test_id("run-question")).to_contain_text("waiting for an operator other than requester")
    expect(console.get_by_test_id("gate-values")).to_contain_text("replication lag")
    console.get_by_test_id("decide-approve").click()
    expect(console.get_by_test_id("run-error")).to_contain_text("another operator must approve")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "runbook-console.png"), full_page=True)

    _log_in(page, console_site, "approver")
    page.goto(url)
    page.get_by_test_id("runbook-console").get_by_test_id("decide-approve").click()
    expect(page.get_by_test_id("runbook-console").get_by_test_id("run-question")).to_have_count(0)
    run_to_end(RunbookRun.objects.get().operation)
    expect(page.get_by_test_id("run-state")).to_have_text("Succeeded")
    expect(page.get_by_test_id("run-timeline")).to_contain_text("Runbook finished")
    page.screenshot(path=str(SCREENSHOTS / "runbook-console-done.png"), full_page=True)
    assert errors == []
