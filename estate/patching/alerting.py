"""Muting and reminders: Alertmanager silences (API v2), a signed webhook and e-mail.

Called after commit or from beat tasks, never inside a request's transaction: an unreachable
Alertmanager or webhook is logged and does not undo the occurrence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from estate.patching import selectors
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence, PatchWindow

log = logging.getLogger(__name__)
TIMEOUT = 5


def _silence_body(occurrence: Occurrence, names: list[str]) -> dict:
    pattern = "|".join(sorted(set(names)))
    return {
        "matchers": [{"name": settings.ALERTMANAGER_MATCHER_LABEL, "value": pattern, "isRegex": True, "isEqual": True}],
        "startsAt": timezone.now().isoformat(),
        "endsAt": (occurrence.end + timedelta(minutes=settings.PATCHING_SILENCE_GRACE_MINUTES)).isoformat(),
        "createdBy": "estate",
        "comment": f"Patch window “{occurrence.window.title}” (occurrence {occurrence.key})",
    }


def silence_occurrence(occurrence_id: int) -> list[str]:
    """Silence alerts of the covered components and of those that depend on them."""
    if not settings.ALERTMANAGER_URL:
        return []
    occurrence = Occurrence.objects.select_related("window").get(pk=occurrence_id)
    if occurrence.status != OccurrenceStatus.IN_PROGRESS or occurrence.silence_ids:
        return occurrence.silence_ids
    ids = list(occurrence.window.components.values_list("pk", flat=True))
    names = list(occurrence.window.components.values_list("slug", flat=True))
    names += list(selectors.dependents_of(ids).values_list("slug", flat=True))
    try:
        response = requests.post(
            f"{settings.ALERTMANAGER_URL.rstrip('/')}/api/v2/silences",
            json=_silence_body(occurrence, names),
            timeout=TIMEOUT,
        )
        response.raise_for_status()
    except requests.RequestException:
        log.exception("Could not create the Alertmanager silence for occurrence %s", occurrence.key)
        return []
    silence_id = response.json()["silenceID"]
    Occurrence.objects.filter(pk=occurrence.pk).update(silence_ids=[silence_id])
    return [silence_id]


def expire_silences(occurrence_id: int) -> int:
    """Closing early expires the silences, so alerts come back at once."""
    occurrence = Occurrence.objects.get(pk=occurrence_id)
    expired = 0
    for silence_id in occurrence.silence_ids:
        try:
            response = requests.delete(
                f"{settings.ALERTMANAGER_URL.rstrip('/')}/api/v2/silence/{silence_id}", timeout=TIMEOUT
            )
            response.raise_for_status()
            expired += 1
        except requests.RequestException:
            log.exception("Could not expire Alertmanager silence %s", silence_id)
    return expired


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _reminder_payload(view) -> dict:
    window = view.window
    return {
        "event": "patch_window.reminder",
        "occurrence": view.key,
        "window": {"id": window.pk, "title": window.title, "change_kind": window.change_kind},
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "components": [c.name for c in window.components.all()],
        "runbook": window.runbook,
    }


def _send_webhook(payload: dict) -> None:
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if settings.PATCHING_WEBHOOK_SECRET:
        headers["X-Estate-Signature"] = sign(body, settings.PATCHING_WEBHOOK_SECRET)
    requests.post(settings.PATCHING_WEBHOOK_URL, data=body, headers=headers, timeout=TIMEOUT).raise_for_status()


def _send_mail(payload: dict) -> None:
    subject = f"Patch window “{payload['window']['title']}” starts {payload['start']}"
    steps = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(payload["runbook"])) or "(no runbook)"
    text = f"Components: {', '.join(payload['components'])}\nEnds: {payload['end']}\n\nRunbook:\n{steps}\n"
    send_mail(subject, text, None, settings.PATCHING_REMINDER_EMAILS)


def reminders_send(*, now=None) -> int:
    """Remind once per occurrence, PATCHING_REMINDER_MINUTES before it starts."""
    now = now or timezone.now()
    until = now + timedelta(minutes=settings.PATCHING_REMINDER_MINUTES)
    windows = selectors.active_in(selectors.window_list().filter(paused=False), now, until)
    sent = 0
    for view in selectors.occurrences_between(windows, now, until, include_free=False):
        if view.status != OccurrenceStatus.PLANNED or view.start < now or view.start > until:
            continue
        if view.row and view.row.reminded_at:
            continue
        if _claim_reminder(view.window, view.original_start, now):
            _notify(_reminder_payload(view))
            sent += 1
    return sent


def _claim_reminder(window: PatchWindow, original_start, now) -> bool:
    from estate.patching.services import occurrence_materialise

    with transaction.atomic():
        row = occurrence_materialise(window, original_start)
        return bool(Occurrence.objects.filter(pk=row.pk, reminded_at__isnull=True).update(reminded_at=now))


def _notify(payload: dict) -> None:
    for channel, enabled in (
        (_send_webhook, settings.PATCHING_WEBHOOK_URL),
        (_send_mail, settings.PATCHING_REMINDER_EMAILS),
    ):
        if not enabled:
            continue
        try:
            channel(payload)
        except Exception:  # noqa: BLE001 - one channel failing must not stop the other
            log.exception("Reminder via %s failed for %s", channel.__name__, payload["occurrence"])
