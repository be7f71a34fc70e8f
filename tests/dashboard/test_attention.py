"""The dashboard's "needs attention now" card: what it lists, where each line goes, and a fixed
number of queries whatever the estate's size."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from estate.inventory.choices import Health
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import Operation
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence
from estate.patching.selectors import active_in, occurrences_between, window_list
from tests.factories import BastionComponentFactory, ImmutableComponentFactory, InstanceFactory, TeamFactory
from tests.html_text import parse
from tests.patching.conftest import make_window

pytestmark = pytest.mark.django_db


def _add_trouble(n: int, tag: str) -> None:
    """n of each kind of trouble, plus things that must NOT be listed (an old failure, a healthy one)."""
    now = timezone.now()
    team = TeamFactory(name=f"team-{tag}")
    for i in range(n):
        failed = ImmutableComponentFactory(name=f"failed-{tag}-{i}", team=team)
        Operation.objects.create(
            kind=OperationKind.ROLL_COMPONENT, component=failed, state=OperationState.FAILED,
            finished_at=now - timedelta(hours=1), error=f"batch 1 unhealthy {tag}-{i}",
        )  # fmt: skip
        Operation.objects.create(
            kind=OperationKind.REBUILD_IMAGE, component=failed, state=OperationState.FAILED,
            finished_at=now - timedelta(days=3), error="long ago",
        )  # fmt: skip
        running = ImmutableComponentFactory(name=f"running-{tag}-{i}")
        Operation.objects.create(kind=OperationKind.ROLL_COMPONENT, component=running, state=OperationState.RUNNING)
        tainted = ImmutableComponentFactory(name=f"tainted-{tag}-{i}", team=team)
        InstanceFactory(component=tainted, tainted=True, taint_reason="hotfix over SSH")
        ImmutableComponentFactory(name=f"down-{tag}-{i}", health=Health.DOWN, health_reason="no heartbeat", team=team)
        db = BastionComponentFactory(name=f"db-{tag}-{i}")
        make_window([db], now + timedelta(days=2, hours=i), title=f"patch {tag}-{i}")
        late = make_window([db], now - timedelta(hours=5), title=f"late {tag}-{i}")
        Occurrence.objects.create(
            window=late, original_start=late.start, start=late.start, end=late.start + timedelta(hours=1),
            status=OccurrenceStatus.IN_PROGRESS, overdue_at=now - timedelta(hours=3),
        )  # fmt: skip


def _section(page, key: str):
    return page.find(data_testid=f"attention-{key}")


def _lines(section) -> list:
    return section.find_all(data_testid="attention-line")


def test_each_list_links_to_the_thing_and_names_the_owner(client, viewer):
    _add_trouble(1, "a")
    client.force_login(viewer)
    page = parse(client.get(reverse("dashboard")).content)

    failed = _lines(_section(page, "failed-operations"))
    op = Operation.objects.get(state=OperationState.FAILED, error="batch 1 unhealthy a-0")
    assert [a.attrs["href"] for a in failed] == [op.get_absolute_url()]  # the 3-day-old failure is left out
    assert "batch 1 unhealthy a-0" in failed[0].text

    running = Operation.objects.get(state=OperationState.RUNNING)
    assert [a.attrs["href"] for a in _lines(_section(page, "running-operations"))] == [running.get_absolute_url()]

    upcoming = _lines(_section(page, "upcoming-windows"))
    assert len(upcoming) == 1 and "patch a-0" in upcoming[0].text and "db-a-0" in upcoming[0].text
    assert upcoming[0].attrs["href"].startswith("/patching/occurrences/")
    overdue = _lines(_section(page, "overdue-windows"))
    late = Occurrence.objects.get(overdue_at__isnull=False)
    assert [a.attrs["href"] for a in overdue] == [reverse("occurrence_detail", args=[late.key])]

    critical = _lines(_section(page, "critical-findings"))
    assert len(critical) == 1 and "tainted" in critical[0].text
    assert critical[0].find(data_testid="attention-owner").text == "team-a"

    down = _lines(_section(page, "components-down"))
    assert len(down) == 1 and down[0].find(data_testid="attention-owner").text == "team-a"
    assert "down-a-0" in down[0].text


def test_no_badge_on_a_zero_count(client, viewer):
    ImmutableComponentFactory(name="calm")  # an estate with nothing wrong
    client.force_login(viewer)
    page = parse(client.get(reverse("dashboard")).content)

    card = page.find(data_testid="attention")
    assert card is not None
    assert card.find_all(data_testid="attention-count") == []
    assert card.find_all(data_testid="attention-line") == []

    _add_trouble(2, "b")
    page = parse(client.get(reverse("dashboard")).content)
    counts = {
        key: _section(page, key).find(data_testid="attention-count").text
        for key in ("failed-operations", "running-operations", "upcoming-windows", "overdue-windows",
                    "critical-findings", "components-down")
    }  # fmt: skip
    assert counts == dict.fromkeys(counts, "2")


def test_query_count_does_not_grow_with_the_estate(client, viewer, django_assert_max_num_queries):
    client.force_login(viewer)
    _add_trouble(2, "small")
    with CaptureQueriesContext(connection) as small:
        assert client.get(reverse("dashboard")).status_code == 200

    _add_trouble(12, "large")  # more lines than the card shows: the counts are queried, not the rows
    windows = active_in(window_list(), timezone.now(), timezone.now() + timedelta(days=7))
    assert len(occurrences_between(windows, timezone.now(), timezone.now() + timedelta(days=7))) == 14
    with django_assert_max_num_queries(len(small)):
        page = parse(client.get(reverse("dashboard")).content)
    assert _section(page, "components-down").find(data_testid="attention-count").text == "14"
    assert len(_lines(_section(page, "components-down"))) == 8
