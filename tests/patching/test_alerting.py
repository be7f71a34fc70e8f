"""Silences in a real Alertmanager on loopback, and reminders by signed webhook and e-mail."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from django.core import mail
from django.utils import timezone

from estate.core.signing import sign
from estate.outbox import services as outbox
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from estate.patching import alerting, services, tasks
from estate.patching.models import Occurrence
from tests.factories import ImmutableComponentFactory
from tests.patching.conftest import NOW, make_window

ALERTMANAGER = shutil.which("prometheus-alertmanager")
TOMORROW = NOW + timedelta(days=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_outbox() -> list[str]:
    """What a worker woken by the outbox would do now: send every message that is due."""
    return [outbox.outbox_deliver(pk) for pk in outbox.outbox_due()]


def start_alertmanager(folder, port: int) -> subprocess.Popen:
    if not ALERTMANAGER:
        pytest.skip("needs Alertmanager: apt-get install prometheus-alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.path={folder / 'data'}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("Alertmanager did not become ready")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def alertmanager_url(tmp_path_factory):
    port = _free_port()
    process = start_alertmanager(tmp_path_factory.mktemp("alertmanager"), port)
    yield f"http://127.0.0.1:{port}"
    stop(process)


def _silence(url: str, silence_id: str) -> dict:
    return requests.get(f"{url}/api/v2/silence/{silence_id}", timeout=5).json()


def test_starting_silences_components_and_dependents_and_closing_early_expires(
    alertmanager_url, settings, db1, django_capture_on_commit_callbacks
):
    # Real time: Alertmanager keeps its own clock, so the silence must start now for both.
    settings.ALERTMANAGER_URL = alertmanager_url
    ImmutableComponentFactory(name="orders-api").depends_on.set([db1])
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    window = make_window([db1], start, title="Orders patch")
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, start))
    assert send_outbox() == [MessageState.SENT]
    occurrence.refresh_from_db()
    assert len(occurrence.silence_ids) == 1
    silence = _silence(alertmanager_url, occurrence.silence_ids[0])
    assert silence["status"]["state"] == "active"
    matcher = silence["matchers"][0]
    assert (matcher["name"], matcher["isRegex"]) == ("component", True)
    assert set(matcher["value"].split("|")) == {"orders-db", "orders-api"}
    assert "Orders patch" in silence["comment"]
    services.occurrence_close(occurrence=occurrence)
    assert send_outbox() == [MessageState.SENT]
    assert _silence(alertmanager_url, occurrence.silence_ids[0])["status"]["state"] == "expired"


def test_unreachable_alertmanager_does_not_stop_the_window(settings, db1, now):
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{_free_port()}"
    window = make_window([db1], TOMORROW)
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, TOMORROW))
    assert send_outbox() == [MessageState.PENDING]
    occurrence.refresh_from_db()
    assert occurrence.status == "in_progress" and occurrence.silence_ids == []
    waiting = OutboxMessage.objects.get(kind=alerting.SILENCE)
    assert "Connection" in waiting.last_error and waiting.next_attempt_at > timezone.now()


def test_an_alertmanager_down_when_the_window_starts_still_silences_once_it_is_back(settings, db1, tmp_path):
    port = _free_port()
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{port}"
    settings.OUTBOX_BACKOFF_SECONDS = 0  # try again at once rather than wait in the test
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    window = make_window([db1], start, title="Orders patch")
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, start))
    assert send_outbox() == [MessageState.PENDING]
    process = start_alertmanager(tmp_path, port)
    try:
        assert send_outbox() == [MessageState.SENT]
        occurrence.refresh_from_db()
        assert _silence(settings.ALERTMANAGER_URL, occurrence.silence_ids[0])["status"]["state"] == "active"
        assert OutboxMessage.objects.get(kind=alerting.SILENCE).attempts == 2
    finally:
        stop(process)


def test_a_window_that_overruns_extends_its_silence(alertmanager_url, settings, db1):
    settings.ALERTMANAGER_URL = alertmanager_url
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    window = make_window([db1], start, title="Orders patch")
    occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, start))
    send_outbox()
    occurrence.refresh_from_db()
    first_id, first_end = occurrence.silence_ids[0], occurrence.silenced_until
    assert alerting.silences_extend() == 0  # nowhere near its end yet
    # The window's end has passed and the occurrence is still in progress: it overruns.
    now = timezone.now()
    overran = {"start": now - timedelta(hours=2), "end": now - timedelta(minutes=20), "silenced_until": now}
    Occurrence.objects.filter(pk=occurrence.pk).update(**overran)
    assert alerting.silences_extend() == 1
    assert alerting.silences_extend() == 1  # asked again before the send: still one message
    assert send_outbox() == [MessageState.SENT]
    occurrence.refresh_from_db()
    assert occurrence.silenced_until > timezone.now() + timedelta(minutes=settings.PATCHING_SILENCE_GRACE_MINUTES - 1)
    extended = _silence(alertmanager_url, occurrence.silence_ids[0])
    assert extended["status"]["state"] == "active" and first_end is not None
    assert OutboxMessage.objects.filter(kind=alerting.SILENCE).count() == 2
    assert first_id  # Alertmanager may keep or replace the id; what counts is the active silence


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PATCHING_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    settings.PATCHING_WEBHOOK_SECRET = "s3cret"
    settings.PATCHING_REMINDER_EMAILS = ["ops@example.com"]
    settings.PATCHING_REMINDER_MINUTES = 60
    yield _Receiver.received
    server.shutdown()


def test_reminder_is_sent_once_signed_and_by_mail(webhook, db1, now, time_machine):
    make_window([db1], TOMORROW, title="Orders patch", runbook=["Fail over", "Patch"])
    time_machine.move_to(TOMORROW - timedelta(hours=2), tick=False)
    assert tasks.send_reminders() == 0
    time_machine.move_to(TOMORROW - timedelta(minutes=50), tick=False)
    assert tasks.send_reminders() == 1
    assert tasks.send_reminders() == 0
    assert send_outbox() == [MessageState.SENT, MessageState.SENT]
    headers, body = webhook[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Estate-Signature"] == expected
    assert sign("s3cret", body) == expected
    payload = json.loads(body)
    assert payload["window"]["title"] == "Orders patch" and payload["components"] == ["orders-db"]
    assert len(mail.outbox) == 1 and "Orders patch" in mail.outbox[0].subject
    assert "1. Fail over" in mail.outbox[0].body
    assert Occurrence.objects.get().reminded_at is not None
