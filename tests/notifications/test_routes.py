"""Owners hear of what happens to their components: per-team routes, a signed Slack-compatible
webhook or e-mail, queued in the outbox with the change and retried until the receiver answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction

from estate.core.signing import HEADER, verify
from estate.notifications.choices import NotificationEvent
from estate.notifications.models import NotificationRoute
from estate.notifications.services import notify
from estate.outbox import services as outbox
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from tests.factories import BastionComponentFactory, TeamFactory
from tests.factories import ImmutableComponentFactory as ComponentFactory

pytestmark = pytest.mark.django_db
SECRET = "route-signing-secret"


class Receiver:
    """A real HTTP receiver on loopback that answers with the statuses it is given, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def payments(db):
    return TeamFactory(slug="payments", name="Payments")


def route(**kwargs) -> NotificationRoute:
    values = {"name": "payments-chat", "events": [NotificationEvent.OPERATION_FAILED]} | kwargs
    item = NotificationRoute(**values)
    item.full_clean()
    item.save()
    return item


def deliver_all() -> list[str]:
    return [outbox.outbox_deliver(pk) for pk in outbox.outbox_due()]


def test_a_failed_operation_reaches_its_teams_webhook_signed_and_slack_shaped(
    receiver, payments, settings, monkeypatch
):
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_PAYMENTS_HOOK=team:payments"
    monkeypatch.setenv("ESTATE_PAYMENTS_HOOK", SECRET)
    route(team=payments, url=receiver.url, secret_env="ESTATE_PAYMENTS_HOOK")
    api = ComponentFactory(team=payments, slug="cart-api")
    sent = notify(
        event=NotificationEvent.OPERATION_FAILED,
        key="op1",
        subject="Roll of cart-api failed",
        text="Batch 2: cart-api-7 reported down.",
        component_ids=[api.pk],
        link="http://estate/ops/1/",
    )
    assert sent == 1
    assert deliver_all() == [MessageState.SENT]
    headers, body = receiver.requests[0]
    assert verify(SECRET, body, headers[HEADER])
    data = json.loads(body)
    assert data["text"].startswith("*Roll of cart-api failed*\nBatch 2")
    assert data["event"] == "operation_failed" and data["link"] == "http://estate/ops/1/"


def test_only_the_owning_teams_routes_and_estate_wide_routes_hear_of_it(receiver, payments):
    other = TeamFactory(slug="web")
    mine = route(team=payments, url=receiver.url)
    theirs = route(name="web-chat", team=other, url=receiver.url)
    everyone = route(name="ops-mail", channel="email", emails="ops@example.com", url="")
    uninterested = route(name="payments-windows", team=payments, url=receiver.url, events=["window_started"])
    api = ComponentFactory(team=payments)
    notify(event="operation_failed", key="op2", subject="s", text="t", component_ids=[api.pk])
    summaries = set(OutboxMessage.objects.values_list("summary", flat=True))
    assert summaries == {f"{mine.name}: s", f"{everyone.name}: s"}
    assert theirs.name not in str(summaries) and uninterested.name not in str(summaries)


def test_a_window_also_tells_the_owners_of_what_depends_on_it(receiver, payments):
    web = TeamFactory(slug="web")
    database = BastionComponentFactory(team=payments)
    frontend = ComponentFactory(team=web)
    frontend.depends_on.add(database)
    route(name="web-chat", team=web, url=receiver.url, events=["window_started"])
    assert notify(event="window_started", key="w1", subject="s", text="t", component_ids=[database.pk]) == 0
    assert notify(event="window_started", key="w2", subject="s", text="t", component_ids=[database.pk],
                  include_dependents=True) == 1  # fmt: skip


def test_the_same_event_twice_queues_one_message_per_route(receiver, payments):
    route(team=payments, url=receiver.url)
    api = ComponentFactory(team=payments)
    for _ in range(2):
        notify(event="operation_failed", key="op3", subject="s", text="t", component_ids=[api.pk])
    assert OutboxMessage.objects.count() == 1


def test_nothing_is_sent_for_a_change_that_was_rolled_back(receiver, payments):
    route(team=payments, url=receiver.url)
    api = ComponentFactory(team=payments)
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(event="operation_failed", key="op4", subject="s", text="t", component_ids=[api.pk])
        raise RuntimeError
    assert not OutboxMessage.objects.exists()


def test_a_receiver_that_errors_is_tried_again_and_one_that_refuses_gives_up(receiver, payments):
    route(team=payments, url=receiver.url)
    api = ComponentFactory(team=payments)
    receiver.statuses = [503]
    notify(event="operation_failed", key="op5", subject="s", text="t", component_ids=[api.pk])
    message = OutboxMessage.objects.get()
    assert outbox.outbox_deliver(message.pk) == MessageState.PENDING
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    assert outbox.outbox_deliver(message.pk) == MessageState.SENT
    receiver.statuses = [404]
    notify(event="operation_failed", key="op6", subject="s", text="t", component_ids=[api.pk])
    refused = OutboxMessage.objects.exclude(pk=message.pk).get()
    assert outbox.outbox_deliver(refused.pk) == MessageState.FAILED
    refused.refresh_from_db()
    assert "answered 404" in refused.last_error


def test_e_mail_routes_send_mail(payments):
    route(team=payments, channel="email", emails="a@example.com, b@example.com", url="")
    api = ComponentFactory(team=payments)
    notify(event="operation_failed", key="op7", subject="Roll failed", text="why", component_ids=[api.pk], link="L")
    assert deliver_all() == [MessageState.SENT]
    assert mail.outbox[0].to == ["a@example.com", "b@example.com"] and mail.outbox[0].body == "why\n\nL"


def test_a_route_to_a_metadata_address_or_without_events_is_refused_naming_the_field(api, payments):
    answer = api.post(
        "/api/v1/notification-routes/",
        {"name": "x", "team": payments.pk, "channel": "webhook", "url": "http://169.254.169.254/latest", "events": []},
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"events"}
    answer = api.post(
        "/api/v1/notification-routes/",
        {"name": "x", "team": payments.pk, "url": "http://169.254.169.254/latest", "events": ["operation_failed"]},
        format="json",
    )
    assert answer.status_code == 400 and "metadata" in answer.json()["errors"]["url"][0]
    assert not NotificationRoute.objects.exists()


def test_a_secret_bound_to_another_team_is_never_sent(receiver, payments, settings, monkeypatch):
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_WEB_HOOK=team:web"
    monkeypatch.setenv("ESTATE_WEB_HOOK", SECRET)
    with pytest.raises(ValidationError) as refused:
        route(team=payments, url=receiver.url, secret_env="ESTATE_WEB_HOOK")
    assert "bound to team:web" in refused.value.message_dict["secret_env"][0]
    # A row written around the validation still cannot send the other team's secret.
    NotificationRoute.objects.create(name="sneaky", team=payments, url=receiver.url, secret_env="ESTATE_WEB_HOOK",
                                     events=["operation_failed"])  # fmt: skip
    notify(event="operation_failed", key="op8", subject="s", text="t",
           component_ids=[ComponentFactory(team=payments).pk])  # fmt: skip
    deliver_all()
    headers, _ = receiver.requests[0]
    assert HEADER not in headers


def test_components_without_a_team_reach_only_estate_wide_routes(receiver, payments):
    route(team=payments, url=receiver.url)
    route(name="all", url=receiver.url)
    orphan = ComponentFactory(team=None)
    assert notify(event="operation_failed", key="op9", subject="s", text="t", component_ids=[orphan.pk]) == 1
