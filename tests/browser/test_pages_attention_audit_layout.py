"""The pages of issue 14 in a real browser: the dashboard's "needs attention now", the requester and
the Scale form on a component, the audit trail's folded diffs with names, and the layout defects
(the "min healthy %" input, the About card, the chart's time labels, the inventory on a phone).

Screenshots land in /tmp/shots_h6/ (or $ESTATE_SHOTS) for a person to look at."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from estate.audit.context import acting_as
from estate.audit.models import AuditEvent
from estate.inventory.choices import Mode
from estate.inventory.models import Component, Team
from estate.inventory.services import component_update
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence, PatchWindow
from estate.telemetry.models import Sample

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("ESTATE_SHOTS", "/tmp/shots_h6"))


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "reduced_motion": "reduce", "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def site(live_server, transactional_db) -> str:
    call_command("load_demo", stdout=io.StringIO())
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def _log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/login/")
    page.get_by_label("Username").fill(settings.DEMO_USERNAME)
    page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site}/")


def _shot(page: Page, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=full_page)


def _idle_immutable() -> Component:
    """A simulated immutable component with live instances and nothing in progress."""
    busy = Operation.objects.filter(state__in=["queued", "running", "paused", "cancelling"]).values("component")
    return (
        Component.objects.filter(mode=Mode.IMMUTABLE, instances__isnull=False, desired_instances__gt=0)
        .exclude(pk__in=busy)
        .distinct()
        .order_by("pk")
        .first()
    )


def test_dashboard_lists_what_needs_attention_and_each_line_opens_it(user_page: Page, site: str):
    page = user_page
    now = timezone.now()
    component = _idle_immutable()
    failed = Operation.objects.create(
        kind=OperationKind.ROLL_COMPONENT, component=component, state=OperationState.FAILED,
        finished_at=now - timedelta(hours=2), error="Batch 2: new instances not healthy within 300 s.",
    )  # fmt: skip
    window = PatchWindow.objects.filter(rrule="").order_by("pk").first() or PatchWindow.objects.order_by("pk").first()
    Occurrence.objects.create(
        window=window, original_start=now - timedelta(hours=6), start=now - timedelta(hours=6),
        end=now - timedelta(hours=5), status=OccurrenceStatus.IN_PROGRESS, overdue_at=now - timedelta(hours=4),
    )  # fmt: skip
    _log_in(page, site)

    card = page.get_by_test_id("attention")
    expect(card).to_be_visible()
    failed_list = page.get_by_test_id("attention-failed-operations")
    expect(failed_list.get_by_test_id("attention-count")).to_have_text("1")
    expect(page.get_by_test_id("attention-overdue-windows").get_by_test_id("attention-count")).to_have_text("1")
    # Critical findings name their owning team.
    expect(page.get_by_test_id("attention-critical-findings").get_by_test_id("attention-owner").first).to_be_visible()
    # A list with nothing in it has no badge.
    for key in ("failed-operations", "running-operations", "overdue-windows", "upcoming-windows",
                "critical-findings", "components-down"):  # fmt: skip
        section = page.get_by_test_id(f"attention-{key}")
        lines = section.get_by_test_id("attention-line").count()
        assert section.get_by_test_id("attention-count").count() == (1 if lines else 0), key
    card.scroll_into_view_if_needed()
    _shot(page, "01-dashboard-attention")
    card.screenshot(path=SHOTS / "01b-dashboard-attention-card.png")

    failed_list.get_by_test_id("attention-line").first.click()
    page.wait_for_url(f"{site}{failed.get_absolute_url()}")
    expect(page.get_by_test_id("operation-state")).to_contain_text("Failed")


def test_component_scale_form_rolls_and_the_requester_reads_the_same(user_page: Page, site: str):
    page = user_page
    component = _idle_immutable()
    live = component.instances.filter(state__in=["pending", "running"]).count()
    _log_in(page, site)
    page.goto(f"{site}{component.get_absolute_url()}")

    # "min healthy %" shows its 100 whole: the input is wider than its text plus the spinner.
    box = page.get_by_test_id("min-healthy")
    expect(box).to_have_value("100")
    panel = page.get_by_test_id("operations-panel")
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=SHOTS / "02-operations-panel-scale.png")
    room = box.evaluate(
        """el => { const c = document.createElement('canvas').getContext('2d'); const s = getComputedStyle(el);
                   c.font = s.font; return el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
                   - c.measureText(el.value).width; }"""
    )
    assert room >= 16, f"only {room:.1f}px beside '100' for the spinner"

    expect(page.get_by_test_id("scale-now")).to_contain_text(f"{live} running")
    page.get_by_test_id("scale-desired").fill(str(live + 2))
    page.get_by_test_id("scale-roll").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("scale-submit").click()
    page.wait_for_url(re.compile(r"/operations/\d+/$"))
    operation = Operation.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert operation.kind == OperationKind.ROLL_COMPONENT and operation.reason == f"Scale to {live + 2} instances"
    assert Component.objects.get(pk=component.pk).desired_instances == live + 2
    expect(page.get_by_test_id("requester")).to_have_text(settings.DEMO_USERNAME)
    _shot(page, "03-operation-after-scale")

    page.goto(f"{site}/operations/?component={component.pk}")
    expect(page.get_by_test_id("requester").first).to_have_text(settings.DEMO_USERNAME)
    page.goto(f"{site}{component.get_absolute_url()}")
    expect(page.get_by_test_id("operations-panel").get_by_test_id("requester").first).to_have_text(
        settings.DEMO_USERNAME
    )


def test_about_card_chart_labels_and_the_inventory_on_a_phone(user_page: Page, site: str):
    page = user_page
    _log_in(page, site)
    # An immutable component with samples: its About card has the SSH and config management lines.
    sampled = Component.objects.filter(pk__in=Sample.objects.values("component"), mode=Mode.IMMUTABLE)
    component = sampled.order_by("pk").first()
    page.goto(f"{site}{component.get_absolute_url()}")

    # The About card: "Config management" and "Tags" each on their own line, with a gap between them.
    config = page.locator("dt", has_text="Config management").bounding_box()
    tags = page.locator("dt", has_text="Tags").bounding_box()
    assert config["y"] + config["height"] + 4 <= tags["y"], (config, tags)
    page.locator("dl").first.screenshot(path=SHOTS / "04-about-card.png")

    canvases = page.locator("canvas[data-metric-index]")
    expect(canvases.first).to_be_visible()
    # The chart's time axis: evenly spaced ticks on round local times.
    ticks = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-metric-index]')).scales.x.ticks.map(t => t.value)"
    )
    gaps = {round(b - a) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(ticks) >= 3 and len(gaps) == 1, ticks  # evenly spaced
    step = gaps.pop()
    offset = page.evaluate(f"() => -new Date({ticks[0]}).getTimezoneOffset() * 60000")
    assert step % 60000 == 0 and (ticks[0] + offset) % step == 0, (ticks, step)  # on round local times
    canvases.first.scroll_into_view_if_needed()
    canvases.first.screenshot(path=SHOTS / "05-chart.png")

    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{site}/components/")
    expect(page.get_by_test_id("component-table")).to_be_visible()
    widths = page.evaluate(
        """() => ({doc: document.documentElement.scrollWidth, view: window.innerWidth,
                  table: document.querySelector('[data-testid=component-table]').scrollWidth,
                  box: document.querySelector('[data-testid=component-table]').parentElement.clientWidth})"""
    )
    assert widths["doc"] <= widths["view"] and widths["table"] <= widths["box"], widths
    _shot(page, "06-inventory-phone")


def test_audit_trail_is_one_line_per_event_with_names(user_page: Page, site: str):
    page = user_page
    _log_in(page, site)
    component = Component.objects.filter(mode=Mode.IMMUTABLE).order_by("pk").first()
    other = Team.objects.exclude(pk=component.team_id).order_by("pk").first()
    before = component.team
    with acting_as("alice", via="session"):
        component_update(component=component, data={"team": other, "desired_instances": 5})
    assert AuditEvent.objects.filter(object_type="inventory.component", object_id=str(component.pk)).exists()

    page.goto(f"{site}/audit/")
    rows = page.get_by_test_id("audit-event")
    first = rows.first
    height = first.bounding_box()["height"]
    assert height < 60, height  # one line, the diff folded
    summary = first.get_by_test_id("audit-summary")
    expect(summary).to_have_text("changed team, desired_instances")
    _shot(page, "07-audit-folded", full_page=False)
    summary.click()
    diff = first.get_by_test_id("audit-diff")
    expect(diff.locator("table")).to_be_visible()
    expect(diff.locator("table")).to_contain_text(other.name)
    expect(diff.locator("table")).to_contain_text(before.name)
    _shot(page, "08-audit-opened", full_page=False)
    # The list fits the page at 1280 px, the opened diff included: nothing hides behind a sideways scroll.
    fits = page.evaluate(
        "() => { const t = document.querySelector('[data-testid=audit-list]');"
        " return t.scrollWidth <= t.parentElement.clientWidth; }"
    )
    assert fits
