"""Writing and sending outbox messages."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from estate.core.errors import ApplicationError
from estate.core.services import guard_write
from estate.outbox import registry
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)


def outbox_send(*, kind: str, payload: dict[str, Any], key: str = "", summary: str = "") -> OutboxMessage:
    """Queue a side effect in the caller's transaction; it is sent once that transaction commits.

    With a key, a second call for the same (kind, key) returns the first message instead of queueing
    another one, so a retried change never notifies twice.
    """
    if registry.handler_for(kind) is None:
        raise ValueError(f"No outbox handler is registered for {kind!r}.")
    if key:
        existing = OutboxMessage.objects.filter(kind=kind, key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(kind=kind, key=key, payload=payload, summary=summary[:300])
    except IntegrityError:  # a concurrent change queued the same key first
        return OutboxMessage.objects.get(kind=kind, key=key)
    transaction.on_commit(lambda: wake(message.pk))
    return message


def wake(message_id: int) -> None:
    """Ask a worker to send it now; if the broker is down the sweep sends it later."""
    from estate.outbox.tasks import deliver_message

    try:
        deliver_message.apply_async((message_id,), retry=False)
    except Exception:  # noqa: BLE001 - the row is the truth; the sweep finds it
        logger.warning("outbox message %s: broker unavailable, the sweep will send it", message_id)


def _claim(message_id: int) -> OutboxMessage | None:
    now = timezone.now()
    due = Q(state=MessageState.PENDING, next_attempt_at__lte=now) | Q(
        state=MessageState.SENDING, lease_expires_at__lt=now
    )
    # One conditional UPDATE: of two workers woken for the same message, one sends it.
    claimed = OutboxMessage.objects.filter(due, pk=message_id).update(
        state=MessageState.SENDING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
    )
    return OutboxMessage.objects.get(pk=message_id) if claimed else None


def backoff_seconds(attempts: int) -> int:
    """10 s, 20 s, 40 s ... capped: the wait before the attempt after `attempts` failed ones."""
    return min(settings.OUTBOX_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), settings.OUTBOX_BACKOFF_MAX_SECONDS)


def _record(message: OutboxMessage, **values) -> None:
    # Only the claim that sent it may record the outcome (a lapsed lease may have been re-claimed).
    OutboxMessage.objects.filter(pk=message.pk, state=MessageState.SENDING, attempts=message.attempts).update(
        lease_expires_at=None, **values
    )


def outbox_deliver(message_id: int) -> str | None:
    """Send the message if it is due and nobody else is sending it; its new state, or None."""
    message = _claim(message_id)
    if message is None:
        return None
    handler = registry.handler_for(message.kind)
    try:
        if handler is None:
            raise registry.PermanentFailure(f"No handler is registered for {message.kind}.")
        result = handler(message.payload)
    except registry.PermanentFailure as exc:
        _record(message, state=MessageState.FAILED, last_error=str(exc)[:5000])
        return MessageState.FAILED
    except Exception as exc:  # noqa: BLE001 - any failure to reach the receiver is tried again
        return _failed_attempt(message, exc)
    _record(message, state=MessageState.SENT, sent_at=timezone.now(), result=result or {}, last_error="")
    return MessageState.SENT


def _failed_attempt(message: OutboxMessage, exc: Exception) -> str:
    error = f"{type(exc).__name__}: {exc}"[:5000]
    if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        _record(message, state=MessageState.FAILED, last_error=f"Gave up after {message.attempts} attempts. {error}")
        return MessageState.FAILED
    retry_at = timezone.now() + timedelta(seconds=backoff_seconds(message.attempts))
    _record(message, state=MessageState.PENDING, next_attempt_at=retry_at, last_error=error)
    logger.info("outbox message %s (%s) failed, next try at %s: %s", message.pk, message.kind, retry_at, error)
    return MessageState.PENDING


def outbox_due(*, limit: int = 500) -> list[int]:
    """Ids of messages due now: pending ones whose time has come, and sends whose worker died."""
    now = timezone.now()
    due = Q(state=MessageState.PENDING, next_attempt_at__lte=now) | Q(
        state=MessageState.SENDING, lease_expires_at__lt=now
    )
    return list(OutboxMessage.objects.filter(due).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def outbox_retry(*, message: OutboxMessage) -> OutboxMessage:
    """Try a message that gave up once more, now (a person fixed the receiver). Messages concern the
    whole estate, so a role limited to some teams may read them but not retry them."""
    guard_write(message)
    if message.state != MessageState.FAILED:
        raise ApplicationError("Only a message that gave up can be retried; the others are tried already.", status=409)
    OutboxMessage.objects.filter(pk=message.pk, state=MessageState.FAILED).update(
        state=MessageState.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
    transaction.on_commit(lambda: wake(message.pk))
    message.refresh_from_db()
    return message
