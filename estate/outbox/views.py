from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from estate.core.errors import ApplicationError
from estate.core.forms import style_fields
from estate.core.paging import paginate
from estate.outbox import selectors, services
from estate.outbox.choices import STATE_COLOURS, MessageState
from estate.outbox.filters import OutboxMessageFilterSet
from estate.outbox.models import OutboxMessage


@login_required
@permission_required("outbox.view_outboxmessage", raise_exception=True)
def outbox_list(request):
    filterset = OutboxMessageFilterSet(request.GET or None, queryset=selectors.message_list())
    style_fields(filterset.form)
    counts = selectors.state_counts()
    context = {
        "filterset": filterset,
        "page": paginate(request, filterset.qs, default_size=50),
        "tiles": [(state, label, counts[state], STATE_COLOURS[state]) for state, label in MessageState.choices],
        "crumbs": [("Outbox", None)],
    }
    return render(request, "outbox/message_list.html", context)


@login_required
@permission_required("outbox.change_outboxmessage", raise_exception=True)
@require_POST
def outbox_retry(request, pk: int):
    message = get_object_or_404(OutboxMessage, pk=pk)
    try:
        services.outbox_retry(message=message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Message #{message.pk} will be sent again now.")
    return redirect("outbox_list")
