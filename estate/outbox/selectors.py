from __future__ import annotations

from django.db.models import Count, QuerySet

from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage


def message_list() -> QuerySet[OutboxMessage]:
    return OutboxMessage.objects.order_by("-created_at", "-id")


def state_counts() -> dict[str, int]:
    """How many messages are in each state (one GROUP BY)."""
    counts = dict(OutboxMessage.objects.values_list("state").annotate(n=Count("pk")).order_by())
    return {state: counts.get(state, 0) for state in MessageState.values}
