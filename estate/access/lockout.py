"""Login lockout: after repeated failures a username, or a client IP, may not log in for a while.

Counts and locks live in the default cache (Redis when REDIS_URL is set), so every web process
shares them. A lock is kept under the submitted username whether or not such a user exists, so
the lock tells an attacker nothing about which accounts are real.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from estate.core.net import client_ip  # noqa: F401 - re-exported: forms.py calls lockout.client_ip

PREFIX = "access:login"


@dataclass(frozen=True)
class Subject:
    """What a failure counts against: a username or a client IP, and how many failures lock it."""

    kind: str
    value: str
    limit: int

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.value.encode()).hexdigest()
        return f"{PREFIX}:{self.kind}:{digest}"


def subjects(*, username: str, ip: str) -> list[Subject]:
    return [
        Subject("username", username.strip().casefold(), settings.LOGIN_LOCKOUT_USERNAME_FAILURES),
        Subject("ip", ip, settings.LOGIN_LOCKOUT_IP_FAILURES),
    ]


def locked_seconds(*, username: str, ip: str) -> int:
    """Seconds until the later of the username's and the IP's locks ends; 0 when neither is locked."""
    now = time.time()
    until = max((cache.get(f"{s.key}:until") or 0 for s in subjects(username=username, ip=ip)), default=0)
    return max(0, math.ceil(until - now))


def login_failed(*, username: str, ip: str) -> None:
    for subject in subjects(username=username, ip=ip):
        if _count(subject.key) >= subject.limit:
            _lock(subject.key)


def login_succeeded(*, username: str) -> None:
    # Only the username's count: one good account must not wipe the failures of a guessing IP.
    cache.delete(f"{subjects(username=username, ip='')[0].key}:failures")


def _count(key: str) -> int:
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    cache.add(f"{key}:failures", 0, seconds)
    try:
        return cache.incr(f"{key}:failures")
    except ValueError:  # expired between add and incr
        cache.set(f"{key}:failures", 1, seconds)
        return 1


def _lock(key: str) -> None:
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    # The end time is kept in the value too: the cache's own expiry is only a clean-up.
    cache.set(f"{key}:until", time.time() + seconds, seconds)
    cache.delete(f"{key}:failures")
