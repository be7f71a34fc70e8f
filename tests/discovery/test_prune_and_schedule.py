"""Gone, then deleted only by an explicit prune after DISCOVERY_PRUNE_AFTER_DAYS; the schedule."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from estate.audit.models import AuditEvent
from estate.discovery import services
from estate.discovery.choices import RunState
from estate.discovery.models import SyncRun
from estate.inventory.models import Cluster, Component

pytestmark = pytest.mark.django_db


@pytest.fixture
def gone_function(aws, source):
    aws.function("resize", "eu-west-1")
    aws.table("carts", "eu-west-1")
    services.sync_now(source=source)
    aws.client("lambda").delete_function(FunctionName="resize")
    run = services.sync_now(source=source)
    assert run.gone == 2  # the function and its instance
    return Component.objects.get(slug="resize")


def test_gone_is_pruned_only_after_the_grace_period(api, source, gone_function, settings):
    settings.DISCOVERY_PRUNE_AFTER_DAYS = 7
    assert services.discovery_prune()["pruned"] == 0
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        assert services.discovery_prune()["pruned"] == 0
    assert Component.objects.filter(pk=gone_function.pk).exists()
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        answer = api.post(f"/api/v1/discovery/sources/{source.pk}/prune/")
    assert answer.status_code == 200 and answer.json()["pruned"] == 1
    assert sorted(Component.objects.values_list("slug", flat=True)) == ["carts"]
    deleted = AuditEvent.objects.get(action="delete", object_type="inventory.component")
    assert deleted.actor == "discovery:aws-test" and "pruned: gone from aws-test" in deleted.message


def test_a_sync_never_deletes(aws, source, gone_function):
    with time_machine.travel(timezone.now() + timedelta(days=365)):
        services.sync_now(source=source)
    assert Component.objects.filter(pk=gone_function.pk).exists()


def test_the_command_syncs_and_prunes(aws, source, settings):
    aws.table("carts", "eu-west-1")
    out = StringIO()
    call_command("discovery", "sync", "aws-test", stdout=out)
    assert json.loads(out.getvalue())["created"] == 1
    aws.client("dynamodb").delete_table(TableName="carts")
    call_command("discovery", "sync", "aws-test", stdout=StringIO())
    settings.DISCOVERY_PRUNE_AFTER_DAYS = 0
    out = StringIO()
    call_command("discovery", "prune", "--source", "aws-test", stdout=out)
    assert json.loads(out.getvalue())["pruned"] == 1 and not Component.objects.exists()
    with pytest.raises(CommandError, match="No discovery source nowhere"):
        call_command("discovery", "sync", "nowhere")


def test_due_sources_are_queued_once_and_stale_runs_are_failed(source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = services.queue_due_syncs()
        again = services.queue_due_syncs()  # a run is queued: nothing more
    assert [r.source for r in first] == [source] and again == [] and len(callbacks) == 1
    SyncRun.objects.filter(pk=first[0].pk).update(
        state=RunState.RUNNING, started_at=timezone.now() - timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks():
        queued = services.queue_due_syncs()
    assert SyncRun.objects.get(pk=first[0].pk).state == RunState.FAILED
    assert queued == []  # the interval (60 min) has not passed since the last run was created
    with time_machine.travel(timezone.now() + timedelta(minutes=61)), django_capture_on_commit_callbacks():
        assert len(services.queue_due_syncs()) == 1


def test_a_deleted_aurora_cluster_is_pruned_with_its_members_and_a_kept_one_stays(aws, source, settings):
    settings.DISCOVERY_PRUNE_AFTER_DAYS = 7
    aws.aurora("orders", "eu-west-1")
    aws.aurora("ledger", "eu-west-1")
    services.sync_now(source=source)
    assert set(Cluster.objects.values_list("slug", flat=True)) >= {"orders", "ledger"}
    rds = aws.client("rds")
    for n in (1, 2):
        rds.delete_db_instance(DBInstanceIdentifier=f"orders-{n}", SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier="orders", SkipFinalSnapshot=True)
    services.sync_now(source=source)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        answer = services.discovery_prune()
    assert answer["pruned"] == 2 and answer["refused"] == []
    assert not Cluster.objects.filter(slug="orders").exists()
    assert Cluster.objects.get(slug="ledger").members.count() == 2
    deleted = AuditEvent.objects.get(action="delete", object_type="inventory.cluster")
    assert deleted.actor == "discovery:aws-test" and "its last members were gone" in deleted.message
