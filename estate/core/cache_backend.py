"""Django's Redis cache, degraded to a cache that remembers nothing while Redis cannot be reached.

What Estate keeps in the cache can all be lost: API and log-in rates, log-in lock-outs, the
estate-wide figures and their version. Redis being down must not turn every API request into a
500 (the throttle reads the cache before any view runs), nor fail a write after its transaction
committed (the figures' version is bumped on commit). While it is down, reads miss, writes are
dropped, and rates and lock-outs are not enforced; each failure is logged.
"""

from __future__ import annotations

import logging

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def _unreachable(operation: str, exc: Exception) -> None:
    logger.warning("cache %s skipped: Redis is unreachable (%s)", operation, exc)


class ResilientRedisCacheClient(RedisCacheClient):
    def get(self, key, default):
        try:
            return super().get(key, default)
        except UNREACHABLE as exc:
            _unreachable("get", exc)
            return default

    def get_many(self, keys):
        try:
            return super().get_many(keys)
        except UNREACHABLE as exc:
            _unreachable("get_many", exc)
            return {}

    def has_key(self, key):
        try:
            return super().has_key(key)
        except UNREACHABLE as exc:
            _unreachable("has_key", exc)
            return False

    def incr(self, key, delta):
        try:
            return super().incr(key, delta)
        except UNREACHABLE as exc:
            _unreachable("incr", exc)
            raise ValueError(f"Key '{key}' not found (the cache is unreachable).") from exc

    def _write(self, operation: str, *args):
        try:
            return getattr(super(), operation)(*args)
        except UNREACHABLE as exc:
            _unreachable(operation, exc)
            return False

    def add(self, key, value, timeout):
        return self._write("add", key, value, timeout)

    def set(self, key, value, timeout):
        self._write("set", key, value, timeout)

    def touch(self, key, timeout):
        return self._write("touch", key, timeout)

    def delete(self, key):
        return self._write("delete", key)

    def set_many(self, data, timeout):
        self._write("set_many", data, timeout)

    def delete_many(self, keys):
        self._write("delete_many", keys)

    def clear(self):
        return self._write("clear")


class ResilientRedisCache(RedisCache):
    """RedisCache that misses instead of raising while Redis is unreachable; it gives up on a host after 2 s."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient
        self._options = {"socket_connect_timeout": 2, "socket_timeout": 2, **self._options}
