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


@pytest.fixture(scope="session")
def alertmanager_url(tmp_path_factory):
    if not ALERTMANAGER:
        pytest.skip("needs Alertmanager: apt-get install prometheus-alertmanager")
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = _free_port()
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
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(f"{url}/-/ready", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("Alertmanager did not become ready")
    yield url
    process.terminate()
    process.wait(timeout=10)


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
    with django_capture_on_commit_callbacks(execute=True):
        occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, start))
    occurrence.refresh_from_db()
    assert len(occurrence.silence_ids) == 1
    silence = _silence(alertmanager_url, occurrence.silence_ids[0])
    assert silence["status"]["state"] == "active"
    matcher = silence["matchers"][0]
    assert (matcher["name"], matcher["isRegex"]) == ("component", True)
    assert set(matcher["value"].split("|")) == {"orders-db", "orders-api"}
    assert "Orders patch" in silence["comment"]
    with django_capture_on_commit_callbacks(execute=True):
        services.occurrence_close(occurrence=occurrence)
    assert _silence(alertmanager_url, occurrence.silence_ids[0])["status"]["state"] == "expired"


def test_unreachable_alertmanager_does_not_stop_the_window(settings, db1, now, django_capture_on_commit_callbacks):
    settings.ALERTMANAGER_URL = f"http://127.0.0.1:{_free_port()}"
    window = make_window([db1], TOMORROW)
    with django_capture_on_commit_callbacks(execute=True):
        occurrence = services.occurrence_start(occurrence=services.occurrence_materialise(window, TOMORROW))
    occurrence.refresh_from_db()
    assert occurrence.status == "in_progress" and occurrence.silence_ids == []


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
    headers, body = webhook[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Estate-Signature"] == expected
    assert alerting.sign(body, "s3cret") == expected
    payload = json.loads(body)
    assert payload["window"]["title"] == "Orders patch" and payload["components"] == ["orders-db"]
    assert len(mail.outbox) == 1 and "Orders patch" in mail.outbox[0].subject
    assert "1. Fail over" in mail.outbox[0].body
    assert Occurrence.objects.get().reminded_at is not None
