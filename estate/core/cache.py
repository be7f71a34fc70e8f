"""Estate-wide figures that cost a scan of the estate, cached briefly and dropped on any change.

Counting findings over 50,000 instances takes tens of milliseconds whatever the indexes; a page
that shows such totals reads them from here. Every write through validated_save bumps one
version number after commit, so a person who changes the inventory sees it at once; changes
made in bulk elsewhere (telemetry, the demo loader) show within the time-to-live.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

VERSION_KEY = "estate:version"


def estate_version() -> int:
    return cache.get_or_set(VERSION_KEY, 1, timeout=None)


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # the key was evicted: any new value differs from the cached entries' keys
        cache.set(VERSION_KEY, 1, timeout=None)


def estate_changed() -> None:
    """Call after a write that changes estate-wide figures; takes effect when the transaction commits."""
    transaction.on_commit(_bump)


def cached_figures[T](name: str, compute: Callable[[], T]) -> T:
    """compute()'s plain-data result, shared by every web process for ESTATE_FIGURES_CACHE_SECONDS."""
    key = f"figures:{name}:{estate_version()}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout=settings.ESTATE_FIGURES_CACHE_SECONDS)
    return value
