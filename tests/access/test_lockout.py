from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("viewer", "small_limits")]
GOOD = "pass-word-123"
LOCKED = "Too many failed log-ins: this account is locked for 10 minutes."


@pytest.fixture
def small_limits(settings):
    settings.LOGIN_LOCKOUT_USERNAME_FAILURES = 3
    settings.LOGIN_LOCKOUT_IP_FAILURES = 5
    settings.LOGIN_LOCKOUT_SECONDS = 600


def _log_in(client, username: str, password: str, ip: str = "127.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client, username: str, times: int, ip: str = "127.0.0.1") -> None:
    for _ in range(times):
        _log_in(client, username, "wrong", ip)


def test_repeated_failures_lock_the_username_and_say_for_how_long(client):
    _fail(client, "viewer", 2)
    response = _log_in(client, "viewer", "wrong")
    assert LOCKED in response.content.decode()


def test_a_correct_password_is_refused_during_the_lock(client):
    _fail(client, "viewer", 3)
    response = _log_in(client, "viewer", GOOD)
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert not _logged_in(client)


def test_the_lock_follows_the_username_from_any_address(client):
    _fail(client, "viewer", 3, ip="10.0.0.1")
    assert LOCKED in _log_in(client, "Viewer", GOOD, ip="10.0.0.2").content.decode()
    assert not _logged_in(client)


def test_an_unknown_username_locks_the_same_way(client):
    _fail(client, "no-such-user", 2)
    assert LOCKED in _log_in(client, "no-such-user", "wrong").content.decode()


def test_repeated_failures_from_one_address_lock_the_address(client):
    for name in ["a", "b", "c", "d", "e"]:
        _log_in(client, name, "wrong", ip="10.0.0.7")
    assert LOCKED in _log_in(client, "viewer", GOOD, ip="10.0.0.7").content.decode()
    assert not _logged_in(client)
    _log_in(client, "viewer", GOOD, ip="10.0.0.8")
    assert _logged_in(client)


def test_the_lock_expires(client):
    _fail(client, "viewer", 3)
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        response = _log_in(client, "viewer", GOOD)
        assert response.status_code == 302
        assert _logged_in(client)


def test_the_remaining_time_is_shown_while_the_lock_lasts(client):
    _fail(client, "viewer", 3)
    with time_machine.travel(timezone.now() + timedelta(seconds=570)):
        assert "locked for 30 seconds" in _log_in(client, "viewer", GOOD).content.decode()


def test_a_success_resets_the_username_count(client):
    _fail(client, "viewer", 2)
    assert _log_in(client, "viewer", GOOD).status_code == 302
    client.logout()
    _fail(client, "viewer", 2)
    assert _log_in(client, "viewer", GOOD).status_code == 302
    assert _logged_in(client)
