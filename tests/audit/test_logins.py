"""Log-ins, failed log-ins and log-outs: who, or who was claimed, and from where."""

from __future__ import annotations

import pytest
from django.urls import reverse

from estate.audit.choices import AuditAction
from tests.audit.conftest import events, only_event
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def clean_lockout(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_login_is_recorded_with_the_address(client, db):
    user = UserFactory(username="alice")
    client.post(reverse("login"), {"username": "alice", "password": "pass-word-123"}, REMOTE_ADDR="198.51.100.20")
    event = only_event(action=AuditAction.LOGIN)
    assert (event.actor, event.actor_id, event.ip, event.via) == ("alice", user.pk, "198.51.100.20", "session")
    assert (event.object_type, event.object_id) == ("auth.user", str(user.pk))


def test_failed_login_keeps_the_attempted_name_but_no_actor_and_no_password(client, db):
    UserFactory(username="alice")
    client.post(reverse("login"), {"username": "alice", "password": "guess-1"}, REMOTE_ADDR="203.0.113.66")
    event = only_event(action=AuditAction.LOGIN_FAILED)
    assert (event.actor, event.actor_id, event.ip) == ("", None, "203.0.113.66")
    assert event.object_repr == "alice"
    assert "alice" in event.message
    assert "guess-1" not in str(event.changes) + event.message


def test_failed_login_of_an_unknown_user_is_recorded_too(client, db):
    client.post(reverse("login"), {"username": "mallory", "password": "x"}, REMOTE_ADDR="203.0.113.67")
    assert only_event(action=AuditAction.LOGIN_FAILED).object_repr == "mallory"


def test_logout_is_recorded(client, db):
    user = UserFactory(username="alice")
    client.force_login(user)
    client.post(reverse("logout"), REMOTE_ADDR="198.51.100.21")
    event = only_event(action=AuditAction.LOGOUT)
    assert (event.actor, event.ip) == ("alice", "198.51.100.21")


def test_logout_without_a_session_records_nothing(client, db):
    client.post(reverse("logout"))
    assert not events()


def test_attempts_refused_by_the_lockout_are_recorded_too(client, db, settings):
    settings.LOGIN_LOCKOUT_USERNAME_FAILURES = 2
    UserFactory(username="alice")
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "guess"}, REMOTE_ADDR="203.0.113.9")
    refused = client.post(
        reverse("login"), {"username": "alice", "password": "pass-word-123"}, REMOTE_ADDR="203.0.113.9"
    )
    assert "locked" in refused.content.decode()
    assert [e.object_repr for e in events(action=AuditAction.LOGIN_FAILED)] == ["alice"] * 4
    assert not events(action=AuditAction.LOGIN)
