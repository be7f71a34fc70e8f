from __future__ import annotations

import os

from celery import Celery
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")


class _RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        # Celery 5.7 collects the lost connection (which detaches its transport: client = None)
        # and then closes it; closing a channel that holds an unacked message (any running
        # acks_late task) tries to restore it through a new pool, and building that pool from
        # the detached transport raised AttributeError ('NoneType' ... 'hostname'). That is not
        # a connection error, so the worker died for good. Reported as the connection error it
        # is, Celery ignores it and reconnects; the message stays in Redis' unacked hash, where
        # the visibility timeout restores it (and the row, the truth, is swept anyway).
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed (reconnecting)")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, reporting a use of a collected connection as a connection error."""

    Channel = _RedisChannel


app = Celery("estate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Waiting operations' wake-ups held by a worker are lost with its broker connection: re-sent on reconnect.
from estate.operations.wakeups import ResendWakeups  # noqa: E402 - the app must exist first

app.steps["consumer"].add(ResendWakeups)
