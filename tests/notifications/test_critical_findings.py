"""Issue 12, "tell the owners": a critical finding that was not there at the last look reaches the
owning team's routes once, signed and Slack-shaped; one that clears and comes back is told again."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from estate.celery import app as celery_app
from estate.core.signing import HEADER, verify
from estate.inventory.models import Instance, Team
from estate.notifications import findings
from estate.notifications.models import NotificationRoute, OpenCriticalFinding
from estate.notifications.tasks import notify_critical_findings
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from tests.factories import ImmutableComponentFactory, InstanceFactory, TeamFactory
from tests.notifications.test_routes import Receiver, deliver_all

pytestmark = pytest.mark.django_db
SECRET = "critical-signing-secret"


@pytest.fixture
def receivers(settings, monkeypatch):
    """Two real HTTP receivers on loopback: the payments team's and the web team's."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_PAYMENTS_HOOK=team:payments"
    monkeypatch.setenv("ESTATE_PAYMENTS_HOOK", SECRET)
    servers = Receiver(), Receiver()
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def payments(receivers):
    team = TeamFactory(slug="payments", name="Payments")
    _route("payments-chat", team, receivers[0].url, secret_env="ESTATE_PAYMENTS_HOOK")
    _route("web-chat", TeamFactory(slug="web", name="Web"), receivers[1].url)
    return team


def _route(name, team, url, **extra) -> NotificationRoute:
    route = NotificationRoute(name=name, team=team, url=url, events=["critical_finding"], **extra)
    route.full_clean()
    route.save()
    return route


def _bodies(receiver: Receiver) -> list[dict]:
    return [json.loads(body) for _, body in receiver.requests]


def test_a_new_critical_finding_reaches_the_owning_teams_webhook_once(receivers, payments):
    mine, theirs = receivers
    cart = ImmutableComponentFactory(team=payments, name="cart-api", ssh_enabled=True)
    ImmutableComponentFactory(team=payments, name="quiet-api")  # no finding: not mentioned
    assert findings.critical_findings_notify() == 1
    assert deliver_all() == [MessageState.SENT]
    [(headers, raw)] = mine.requests
    assert verify(SECRET, raw, headers[HEADER])
    body = json.loads(raw)
    assert body["event"] == "critical_finding"
    assert body["subject"] == "1 new critical finding for Payments"
    assert "SSH or config management on an immutable component: cart-api" in body["details"]
    assert "quiet-api" not in body["text"] and body["link"].endswith("/findings/?severity=critical")
    assert theirs.requests == []
    # Still there at the next look: nobody is told twice.
    assert findings.critical_findings_notify() == 0
    assert OutboxMessage.objects.count() == 1
    assert OpenCriticalFinding.objects.get().component_id == cart.pk


def test_a_finding_that_clears_and_comes_back_is_told_again(receivers, payments):
    mine, _ = receivers
    instance = InstanceFactory(component=ImmutableComponentFactory(team=payments), external_id="i-7")
    Instance.objects.filter(pk=instance.pk).update(tainted=True, taint_reason="ssh_session by alice")
    assert findings.critical_findings_notify() == 1
    Instance.objects.filter(pk=instance.pk).update(tainted=False, taint_reason="")
    assert findings.critical_findings_notify() == 0
    assert not OpenCriticalFinding.objects.exists()  # cleared: forgotten
    Instance.objects.filter(pk=instance.pk).update(tainted=True, taint_reason="apt upgrade by bob")
    assert findings.critical_findings_notify() == 1
    deliver_all()
    details = [body["details"] for body in _bodies(mine)]
    assert len(details) == 2
    assert "i-7" in details[0] and "ssh_session by alice" in details[0]
    assert "apt upgrade by bob" in details[1]


def test_many_new_findings_make_one_bounded_message_per_team(receivers, payments):
    mine, theirs = receivers
    web = Team.objects.get(slug="web")
    component = ImmutableComponentFactory(team=payments)
    for n in range(findings.LIST_LIMIT + 5):
        InstanceFactory(component=component, external_id=f"i-{n}", tainted=True, taint_reason="edited by hand")
    ImmutableComponentFactory(team=web, ssh_enabled=True)
    assert findings.critical_findings_notify() == findings.LIST_LIMIT + 6
    deliver_all()
    [body] = _bodies(mine)
    assert body["subject"] == f"{findings.LIST_LIMIT + 5} new critical findings for Payments"
    lines = body["details"].splitlines()
    assert len(lines) == findings.LIST_LIMIT + 1 and lines[-1] == "… and 5 more."
    [other] = _bodies(theirs)
    assert other["subject"] == "1 new critical finding for Web"


def test_findings_of_a_team_without_a_route_are_remembered_and_send_nothing(receivers, payments):
    ImmutableComponentFactory(team=TeamFactory(slug="silent"), ssh_enabled=True)
    assert findings.critical_findings_notify() == 1
    assert not OutboxMessage.objects.exists()
    assert findings.critical_findings_notify() == 0


def test_warnings_are_not_critical_findings(receivers, payments):
    ImmutableComponentFactory(team=payments, heartbeat_period_seconds=None)  # no-telemetry: a warning
    assert findings.critical_findings_notify() == 0
    assert not OutboxMessage.objects.exists()


def test_the_beat_runs_the_task_and_routes_may_choose_the_event(api, payments):
    notify_critical_findings.apply()
    schedule = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert notify_critical_findings.name in schedule
    answer = api.post(
        "/api/v1/notification-routes/",
        {"name": "pay-mail", "team": payments.pk, "channel": "email", "emails": "pay@example.com",
         "events": ["critical_finding"]},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["events"] == ["critical_finding"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_tell_the_team_once(receivers, payments):
    ImmutableComponentFactory(team=payments, ssh_enabled=True)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def run():
        barrier.wait()
        try:
            counts.append(findings.critical_findings_notify())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 1]
    assert OutboxMessage.objects.count() == 1 and OpenCriticalFinding.objects.count() == 1


def test_a_look_costs_the_same_number_of_queries_for_1_or_30_new_findings(receivers, payments):
    def look_with_new_taints(count: int) -> int:
        component = ImmutableComponentFactory(team=payments)
        for n in range(count):
            InstanceFactory(component=component, external_id=f"i-{n}", tainted=True, taint_reason="edited by hand")
        with CaptureQueriesContext(connection) as queries:
            assert findings.critical_findings_notify() == count
        return len(queries)

    one, thirty = look_with_new_taints(1), look_with_new_taints(30)
    assert one == thirty
    assert OutboxMessage.objects.count() == 2  # one message per look for the team's one route
