"""Wake-ups a worker lost with its broker connection are sent again when it reconnects.

A waiting operation's wake-up is a Celery message with a countdown. The worker that received it
holds it (unacknowledged) until it is due; when the broker connection drops meanwhile, the message
stays in Redis' unacked hash until the visibility timeout (an hour) and the operation would sleep
until the sweep noticed. So every time a worker's consumer (re)connects, it re-sends the wake-up of
every waiting operation, due at the same time as before. A duplicate is harmless: the first claims
the operation, the other finds it taken (or not yet due) and does nothing.

No model is imported at module level: estate.celery registers the step before Django is set up.
"""

from __future__ import annotations

import logging

from celery import bootsteps

logger = logging.getLogger(__name__)


def resend_wakeups() -> int:
    """Queue again the wake-up of every waiting operation; how many were sent."""
    from django.utils import timezone

    from estate.operations.engine import SNOOZED
    from estate.operations.models import Operation
    from estate.operations.tasks import run_operation

    now = timezone.now()
    sent = 0
    for pk, wake in Operation.objects.filter(SNOOZED).values_list("pk", "lease_expires_at"):
        countdown = max(0.0, (wake - now).total_seconds()) if wake else 0.0
        run_operation.apply_async((pk,), countdown=countdown, retry=False)
        sent += 1
    return sent


class ResendWakeups(bootsteps.StartStopStep):
    """A consumer step: start() runs at every (re)connection of the worker to the broker."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer) -> None:
        try:
            sent = resend_wakeups()
        except Exception:  # noqa: BLE001 - never stop a worker from consuming: the sweep is the backstop
            logger.warning("could not re-send the wake-ups of waiting operations", exc_info=True)
            return
        if sent:
            logger.info("re-sent the wake-up of %d waiting operation(s)", sent)
