"""The demo shipper against a live Estate: its OTLP/HTTP exports reach the demo's live instances
(samples with their instance, heartbeats), the one sshd line taints exactly one instance once,
new instances wait for their warm-up, terminated ones stop, and the cast (flappers, drift) is fixed."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from estate.inventory.choices import LIVE_INSTANCE_STATES, Category, ClusterRole, InstanceState
from estate.inventory.models import Instance
from estate.telemetry import demo_shipper
from estate.telemetry.demo_shipper import DemoShipper, demo_token
from estate.telemetry.health import effective_rules, rules_for
from estate.telemetry.models import Event, IngestToken, Sample

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, default_log_rules) -> str:
    call_command("load_demo", stdout=io.StringIO())
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


def _live():
    return Instance.objects.filter(state__in=LIVE_INSTANCE_STATES).select_related("component")


def test_one_cycle_of_the_command_reports_every_live_instance_and_taints_one_once(site):
    before = timezone.now() - timedelta(milliseconds=5)
    tainted_before = set(_live().filter(tainted=True).values_list("pk", flat=True))

    call_command("demo_shipper", url=site, cycles=1, ssh_after=0, interval=0, stderr=io.StringIO())

    # Instances launched in the last few seconds (a roll's, a discovery's) wait for their warm-up.
    live = list(_live().filter(launched_at__lte=before - timedelta(seconds=demo_shipper.WARMUP_SECONDS)))
    assert len(live) > 50
    own, defaults = effective_rules()
    got: dict[int, set[str]] = {}
    for instance_id, name in Sample.objects.filter(ts__gte=before).values_list("instance_id", "name"):
        got.setdefault(instance_id, set()).add(name)
    for instance in live:
        expected = {r.metric for r in rules_for(instance.component_id, instance.component.category, own, defaults)}
        # Every sample carries its instance, with the metrics its component's rules read.
        assert got.get(instance.pk, set()) == expected, instance.external_id
        assert instance.last_seen_at >= before, f"{instance.external_id} did not beat"
    assert None not in got
    assert set(got) <= {i.pk for i in _live()}
    assert IngestToken.objects.get(name=demo_shipper.TOKEN_NAME).last_used_at is not None

    newly = [i for i in live if i.tainted and i.pk not in tainted_before]
    assert len(newly) == 1 and "Accepted publickey" in newly[0].taint_reason
    assert newly[0].component.environment.slug == "production"
    assert Event.objects.filter(kind="ssh_session").count() == 1


def test_the_cast_is_fixed_new_instances_wait_and_terminated_ones_stop(site):
    shipper = DemoShipper(url=site, token=demo_token(), ssh_after_seconds=0)
    start = shipper.started
    first = shipper.cycle(now=start)
    assert first.ok and first.ssh_sent_to and not first.silent
    ssh_event = Event.objects.get(kind="ssh_session")

    # A second cycle: the sshd line is not sent again.
    assert shipper.cycle(now=time.time()).ssh_sent_to == ""
    assert Event.objects.filter(kind="ssh_session").count() == 1 and Event.objects.get(kind="ssh_session") == ssh_event

    # A roll's new instance reports once warmed up; a terminated one stops.
    gone = _live().first()
    Instance.objects.filter(pk=gone.pk).update(state=InstanceState.TERMINATED)
    now = time.time() + 1  # after the cycles above, to the sample
    new = Instance.objects.create(
        component=gone.component, external_id="i-new-demo", launched_at=datetime.fromtimestamp(now, tz=UTC)
    )
    report = shipper.cycle(now=now)
    assert gone.external_id not in report.reported and new.external_id not in report.reported
    later = now + demo_shipper.WARMUP_SECONDS + 1
    assert new.external_id in shipper.cycle(now=later).reported
    assert Sample.objects.filter(instance=new).exists()
    assert not Sample.objects.filter(instance=gone, ts__gte=datetime.fromtimestamp(now - 0.5, tz=UTC)).exists()

    # The flappers: chosen once, two minutes in (after the policies' first replacements), untainted,
    # silent in turn rather than together. (Started earlier rather than sent from the future: intake
    # refuses samples minutes ahead.)
    assert shipper.flappers is None
    shipper.started = time.time() - demo_shipper.FLAP_FIRST_AFTER_SECONDS - 1
    silent = shipper.cycle().silent
    assert len(shipper.flappers) == demo_shipper.FLAPPERS
    flapper, other = Instance.objects.get(pk=shipper.flappers[0]), Instance.objects.get(pk=shipper.flappers[1])
    assert silent == [flapper.external_id] and not flapper.tainted and not other.tainted
    chosen = list(shipper.flappers)
    shipper.started -= demo_shipper.FLAP_SILENT_SECONDS
    assert shipper.cycle().silent == [] and shipper.flappers == chosen
    shipper.started -= demo_shipper.FLAP_EVERY_SECONDS / 2 - demo_shipper.FLAP_SILENT_SECONDS
    assert shipper.cycle().silent == [other.external_id]


def test_one_production_replica_drifts_over_warn_and_back(site):
    shipper = DemoShipper(url=site, token=demo_token(), ssh_after_seconds=10**9)
    shipper.cycle()
    environment, slug = shipper.drifting.split("/")
    instance = _live().filter(component__slug=slug, component__environment__slug=environment).first()
    assert instance.component.category == Category.DATABASE and instance.component.role == ClusterRole.REPLICA
    period, start = demo_shipper.DRIFT_PERIOD_SECONDS, shipper.started
    lags = [shipper.lag(start + period * f) for f in (0, 0.3, 0.5, 2 / 3, 0.85, 0.99)]
    assert lags[0] == lags[1] == 2.0 and lags[2] < lags[3] and lags[4] < lags[3] and lags[5] < 30
    assert lags[3] == pytest.approx(demo_shipper.DRIFT_PEAK_SECONDS) and lags[3] > 30  # past the default warn

    # Sent as the instance's sample at the peak.
    shipper.started = time.time() - period * 2 / 3
    at = timezone.now()
    shipper.cycle()
    sample = Sample.objects.get(instance=instance, name="replication_lag_seconds", ts__gte=at)
    assert sample.value == pytest.approx(demo_shipper.DRIFT_PEAK_SECONDS, abs=0.5)
