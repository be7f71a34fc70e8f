"""A sync of a moto account (two regions, every kind of thing) into the inventory, and a second one."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from estate.audit.models import AuditEvent
from estate.core.findings import finding_list
from estate.discovery import services
from estate.discovery.choices import RunState
from estate.discovery.models import DiscoveredObject, SyncRun
from estate.inventory.choices import InstanceState
from estate.inventory.models import Component

pytestmark = pytest.mark.django_db


def by_slug() -> dict[str, Component]:
    rows = Component.objects.select_related("cluster", "team", "current_image", "discovery", "environment")
    return {c.slug: c for c in rows}


def synced(source) -> SyncRun:
    run = services.sync_now(source=source)
    assert run.state == RunState.SUCCEEDED, (run.messages, run.region_errors)
    return run


def test_first_sync_classifies_every_kind_in_its_regime(aws, source):
    aws.seed()
    run = synced(source)
    c = by_slug()
    assert sorted(c) == sorted(
        ["web", "legacy-box", "resize", "api", "billing", "orders-1", "orders-2", "sessions", "carts", "worker",
         "thumbs", "events"]
    )  # fmt: skip
    # Immutable, provider aws: groups with their instances and AMI, functions, containers.
    for slug, category in {"web": "service", "worker": "service", "resize": "function", "api": "container"}.items():
        assert (c[slug].mode, c[slug].category, c[slug].provider, c[slug].holds_state) == (
            "immutable",
            category,
            "aws",
            False,
        ), slug
    assert c["web"].desired_instances == 2 and c["web"].instances.count() == 2
    assert c["web"].current_image.version.startswith("ami-")
    assert set(c["web"].instances.values_list("image", flat=True)) == {c["web"].current_image_id}
    assert c["web"].team.slug == "shop"
    assert c["resize"].current_image.version == "1"  # the published version is the image
    assert c["api"].desired_instances == 3 and c["api"].current_image.version == "api:1"
    # Bastions: databases in clusters with writer/reader roles, caches; DynamoDB managed.
    for slug, category in {"billing": "database", "orders-1": "database", "sessions": "cache"}.items():
        assert (c[slug].mode, c[slug].category, c[slug].holds_state, c[slug].managed) == (
            "bastion",
            category,
            True,
            False,
        ), slug
    assert (c["billing"].engine, c["billing"].engine_version, c["billing"].cluster, c["billing"].role) == (
        "postgresql",
        "15.3",
        None,
        "standalone",
    )
    assert c["billing"].team.slug == "finance"
    assert c["orders-1"].cluster.slug == "orders" == c["orders-2"].cluster.slug
    assert {c["orders-1"].role, c["orders-2"].role} == {"primary", "replica"}
    assert c["orders-1"].discovery.details["maintenance_window"] == "sun:03:00-sun:04:00"
    assert c["sessions"].engine == "redis"
    for slug in ("carts", "events"):
        assert (c[slug].mode, c[slug].managed, c[slug].patch_cadence_days) == ("bastion", True, None)
    # Where each came from.
    assert c["worker"].discovery.region == "us-east-1" and c["web"].discovery.region == "eu-west-1"
    assert c["web"].discovery.account == "123456789012" == run.account
    assert run.report["component"] == {"created": 12, "updated": 0, "unchanged": 0, "gone": 0, "errors": 0}
    assert run.report["instance"]["created"] == DiscoveredObject.objects.filter(instance__isnull=False).count()
    assert (run.created, run.errors, run.duration_seconds > 0) == (12 + run.report["instance"]["created"] + 6, 0, True)


def test_loose_ec2_instance_is_flagged_and_writes_are_audited_as_the_source(aws, source):
    aws.seed()
    synced(source)
    total, loose = finding_list(kind="loose-ec2-instance")
    assert [f.obj.slug for f in loose] == ["legacy-box"] and "nothing can replace it" in loose[0].message
    events = AuditEvent.objects.filter(object_type="inventory.component", action="create")
    assert events.count() == 12
    assert set(events.values_list("actor", "via")) == {("discovery:aws-test", "discovery")}


def test_second_sync_yields_exactly_the_changes(aws, source):
    aws.seed()
    first = synced(source)
    aws.scale("web", "eu-west-1", 3)
    aws.client("rds").modify_db_instance(DBInstanceIdentifier="billing", EngineVersion="16.1", ApplyImmediately=True)
    aws.client("lambda").delete_function(FunctionName="resize")
    second = synced(source)
    components, instances = first.report["component"]["created"], first.report["instance"]["created"]
    assert second.report["component"] == {
        "created": 0, "updated": 2, "unchanged": components - 3, "gone": 1, "errors": 0
    }  # fmt: skip
    assert second.report["instance"] == {
        "created": 1, "updated": 0, "unchanged": instances - 1, "gone": 1, "errors": 0
    }  # fmt: skip
    c = by_slug()
    assert c["web"].desired_instances == 3 and c["web"].instances.count() == 3
    assert c["billing"].engine_version == "16.1"
    assert c["resize"].discovery.gone_since is not None  # marked, not deleted
    assert c["resize"].instances.get().state == InstanceState.TERMINATED
    change = AuditEvent.objects.get(object_type="inventory.component", object_id=str(c["billing"].pk), action="change")
    assert change.changes == {"engine_version": ["15.3", "16.1"]} and change.actor == "discovery:aws-test"
    third = synced(source)
    assert (third.created, third.updated, third.gone, third.errors) == (0, 0, 0, 0)


def test_a_function_that_comes_back_is_no_longer_gone(aws, source):
    aws.seed()
    synced(source)
    aws.client("lambda").delete_function(FunctionName="resize")
    synced(source)
    aws.function("resize", "eu-west-1")
    run = synced(source)
    assert run.report["component"]["updated"] == 1 and run.report["component"]["gone"] == 0
    assert by_slug()["resize"].discovery.gone_since is None


def test_a_failing_region_is_reported_and_the_others_are_synced(aws, source):
    aws.seed()
    synced(source)
    source.regions = ["eu-west-1", "xx-nowhere-1"]
    source.save()
    run = services.sync_now(source=source)
    assert run.state == RunState.PARTIAL
    assert list(run.region_errors) == ["xx-nowhere-1"] and run.errors == 1
    assert run.report["component"]["unchanged"] == 9 and run.gone == 0
    # What us-east-1 held was not read this time: it is not gone, only not seen.
    assert not DiscoveredObject.objects.filter(region="us-east-1", gone_since__isnull=False).exists()


def test_every_region_failing_fails_the_run_and_marks_nothing_gone(aws, source):
    aws.seed()
    synced(source)
    source.endpoint_url = "http://127.0.0.1:9"
    source.save()
    run = services.sync_now(source=source)
    assert run.state == RunState.FAILED and set(run.region_errors) == {"eu-west-1", "us-east-1"}
    assert not DiscoveredObject.objects.filter(gone_since__isnull=False).exists()


def test_a_missing_credential_variable_fails_the_run_naming_it(aws, source, monkeypatch):
    monkeypatch.delenv("ESTATE_TEST_AWS_SECRET")
    run = services.sync_now(source=source)
    assert run.state == RunState.FAILED
    assert "ESTATE_TEST_AWS_SECRET" in run.messages[0]


def test_the_database_allows_one_running_sync_per_source(source):
    SyncRun.objects.create(source=source, state=RunState.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(source=source, state=RunState.RUNNING)


def test_a_second_sync_while_one_runs_is_refused(aws, source):
    running = SyncRun.objects.create(source=source, state=RunState.RUNNING)
    run = services.sync_now(source=source)
    assert run.state == RunState.REFUSED and "running" in run.messages[0]
    assert Component.objects.count() == 0
    running.refresh_from_db()
    assert running.state == RunState.RUNNING


def _sync_queries(source) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        synced(source)
    return len(queries.captured_queries)


def test_the_queries_of_a_sync_grow_with_the_kinds_not_the_objects(aws, source):
    from estate.inventory.models import Environment

    Environment.objects.create(name="production", slug="production")  # created once, by the first sync
    aws.group("small", "eu-west-1", 1)
    aws.function("one", "eu-west-1")
    aws.table("t1", "eu-west-1")
    small = _sync_queries(source)
    Component.objects.all().delete()
    DiscoveredObject.objects.all().delete()
    for n in range(3):
        aws.group(f"big-{n}", "us-east-1", 4)
        aws.function(f"f-{n}", "us-east-1")
        aws.table(f"t-{n}", "us-east-1")
    big = _sync_queries(source)
    assert Component.objects.count() == 12 and big == small, (small, big)
