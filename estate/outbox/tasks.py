from __future__ import annotations

from celery import shared_task

from estate.outbox import services


@shared_task(name="estate.outbox.tasks.deliver_message", acks_late=True, reject_on_worker_lost=True)
def deliver_message(message_id: int) -> str | None:
    """Send one message; the row says whether it is due, so a duplicate wake-up sends nothing twice."""
    return services.outbox_deliver(message_id)


@shared_task(name="estate.outbox.tasks.deliver_due")
def deliver_due() -> int:
    """Beat: wake a worker for every message whose retry time has come or whose sender died."""
    ids = services.outbox_due()
    for message_id in ids:
        services.wake(message_id)
    return len(ids)
