"""The Discovery page: sources with their last run and next run, Sync now, each source's runs, a run's report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from estate.audit.context import acting_as
from estate.audit.services import audit_record
from estate.discovery.models import DiscoverySource, SyncRun
from tests.html_text import parse, table_rows

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def signed_in(admin_user) -> Client:
    return _client(admin_user)


def make_source(name: str = "aws-prod", **kwargs) -> DiscoverySource:
    return DiscoverySource.objects.create(name=name, kind="aws", regions=["eu-west-1", "us-east-1"], **kwargs)


def finished_run(source: DiscoverySource, **fields) -> SyncRun:
    now = timezone.now()
    fields = {"state": "succeeded", "started_at": now - timedelta(seconds=3), "finished_at": now, **fields}
    return SyncRun.objects.create(source=source, **fields)


def test_the_page_lists_each_source_with_its_last_run_counts_and_next_run(signed_in):
    source = make_source(interval_minutes=60)
    finished_run(source, created=4, updated=2, gone=1, errors=0)
    make_source("aws-off", enabled=False)
    page = signed_in.get("/discovery/")
    assert page.status_code == 200
    rows = table_rows(page.content, data_testid="source-list")
    assert [r[0] for r in rows] == ["aws-off AWS disabled", "aws-prod AWS"]
    assert rows[1][1] == "eu-west-1, us-east-1" and rows[1][2].startswith("Succeeded ")
    assert rows[1][3:8] == ["4", "2", "1", "0", "0"]
    assert rows[1][8].startswith("59 minutes from now") or rows[1][8].startswith("an hour from now")
    assert (rows[0][2], rows[0][8]) == ("never", "—")
    html = parse(page.content)
    assert len(html.find_all(data_testid="sync-now")) == 1  # an admin's, for the enabled source
    assert 'hx-trigger="every 2s"' not in page.content.decode()  # nothing runs: no polling


def test_a_viewer_reads_the_page_without_sync_now(viewer):
    make_source()
    page = _client(viewer).get("/discovery/")
    assert page.status_code == 200 and not parse(page.content).find_all(data_testid="sync-now")


def test_an_empty_page_says_how_to_add_a_source(signed_in):
    assert "POST /api/v1/discovery/sources/" in signed_in.get("/discovery/").content.decode()


def test_sync_now_queues_a_run_and_shows_it_live(signed_in, admin_user):
    source = make_source()
    answer = signed_in.post(f"/discovery/sources/{source.pk}/sync/")
    run = SyncRun.objects.get(source=source)
    assert answer.status_code == 302 and answer["Location"] == f"/discovery/runs/{run.pk}/"
    assert (run.state, run.requested_by) == ("queued", admin_user)
    page = signed_in.get(answer["Location"])
    assert "Waiting for a worker." in parse(page.content).find(data_testid="run-progress").text
    assert f'hx-get="/discovery/runs/{run.pk}/"' in page.content.decode()
    listing = signed_in.get("/discovery/")
    assert 'hx-trigger="every 2s"' in listing.content.decode()
    assert table_rows(listing.content, data_testid="source-list")[0][8] == "queued now"
    SyncRun.objects.filter(pk=run.pk).update(state="running", started_at=timezone.now())
    running = signed_in.get(answer["Location"])
    assert "Reading eu-west-1, us-east-1 since" in parse(running.content).find(data_testid="run-progress").text
    assert table_rows(signed_in.get("/discovery/").content, data_testid="source-list")[0][8] == "running now"
    # HTMX asks for the live part alone, and it is the whole run card once the run is over.
    SyncRun.objects.filter(pk=run.pk).update(state="succeeded", started_at=timezone.now(), finished_at=timezone.now())
    part = signed_in.get(answer["Location"], headers={"HX-Request": "true"}).content.decode()
    assert part.startswith('\n<div id="run-live"') or part.lstrip().startswith('<div id="run-live"')
    assert "hx-trigger" not in part and "Succeeded" in part


def test_sync_now_of_a_disabled_source_says_so(signed_in):
    source = make_source(enabled=False)
    answer = signed_in.post(f"/discovery/sources/{source.pk}/sync/", follow=True)
    assert f"Source {source.name} is disabled." in answer.content.decode()
    assert not SyncRun.objects.exists()


def test_a_viewer_may_not_sync(viewer):
    source = make_source()
    assert _client(viewer).post(f"/discovery/sources/{source.pk}/sync/").status_code == 403
    assert not SyncRun.objects.exists()


def test_the_source_page_lists_its_runs_newest_first(signed_in):
    source = make_source()
    finished_run(source, created=3)
    SyncRun.objects.create(source=source, state="failed", errors=1)
    rows = table_rows(signed_in.get(f"/discovery/sources/{source.pk}/").content, data_testid="run-list")
    assert [(r[1], r[2], r[3], r[7]) for r in rows] == [
        ("Failed", "schedule", "0", "1"),
        ("Succeeded", "schedule", "3", "0"),
    ]


def test_a_run_page_shows_its_report_refusals_region_errors_and_what_changed(signed_in):
    source = make_source()
    run = finished_run(
        source,
        state="partial",
        report={"component": {"created": 1, "updated": 1, "unchanged": 0, "gone": 0, "errors": 1, "detached": 2}},
        region_errors={"us-east-1": "AccessDenied"},
        messages=["eu-west-1/asg/web: slug: a component with this slug already exists in production."],
    )
    with acting_as(source.actor_name, via="discovery"):
        audit_record(action="change", object_type="inventory.component", object_id=7, object_repr="api",
                     changes={"desired_instances": [2, 3]})  # fmt: skip
    SyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() + timedelta(seconds=1))
    page = signed_in.get(f"/discovery/runs/{run.pk}/")
    html = parse(page.content)
    assert table_rows(page.content, data_testid="run-report") == [["component", "1", "1", "0", "0", "1", "2"]]
    problems = html.find(data_testid="run-problems").text
    assert "us-east-1 AccessDenied" in problems and "already exists in production" in problems
    assert table_rows(page.content, data_testid="run-changes") == [
        ["Changed", "inventory.component api", "desired_instances 2 → 3"]
    ]


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_sources_and_runs(
    signed_in, django_assert_max_num_queries
):
    def queries(url: str) -> int:
        with django_assert_max_num_queries(30) as counted:
            assert signed_in.get(url).status_code == 200
        return len(counted.captured_queries)

    first = make_source("aws-0")
    finished_run(first, created=1)
    few = queries("/discovery/"), queries(f"/discovery/sources/{first.pk}/")
    for n in range(1, 6):
        source = make_source(f"aws-{n}")
        for _ in range(3):
            finished_run(source, created=n)
        SyncRun.objects.create(source=source)
    for _ in range(8):
        finished_run(first)
    assert (queries("/discovery/"), queries(f"/discovery/sources/{first.pk}/")) == few


def test_the_nav_links_the_page(signed_in):
    nav = parse(signed_in.get("/").content).find("a", href="/discovery/")
    assert nav.text == "Discovery"
