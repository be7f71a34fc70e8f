from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Throttle histories and lockouts live in the cache: each test gets an empty one of its own,
    so nothing leaks into other tests and a shared Redis is never flushed."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
