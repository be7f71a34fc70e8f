"""Muting and reminders: Alertmanager silences (API v2), a signed webhook and e-mail.

Every call out is an outbox message written in the transaction of the change that causes it (an
occurrence started or closed, a reminder claimed), so an Alertmanager or a webhook that is down
when a window starts still hears of it once it is back, and the outbox page shows what is waiting.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from estate.core.signing import HEADER, sign
from estate.outbox.registry import PermanentFailure
from estate.outbox.services import outbox_send
from estate.patching import selectors
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence

log = logging.getLogger(__name__)
TIMEOUT = 5
SILENCE, EXPIRE = "alertmanager.silence", "alertmanager.expire"
REMINDER_WEBHOOK, REMINDER_MAIL = "patching.reminder_webhook", "patching.reminder_mail"
# Ask Alertmanager to extend a silence this long before it would end while the window overruns.
EXTEND_AHEAD = timedelta(minutes=5)


def _silence_body(occurrence: Occurrence, names: list[str], ends_at) -> dict:
    pattern = "|".join(sorted(set(names)))
    return {
        "matchers": [{"name": settings.ALERTMANAGER_MATCHER_LABEL, "value": pattern, "isRegex": True, "isEqual": True}],
        "startsAt": timezone.now().isoformat(),
        "endsAt": ends_at.isoformat(),
        "createdBy": "estate",
        "comment": f"Patch window “{occurrence.window.title}” (occurrence {occurrence.key})",
    }


def _alertmanager(path: str) -> str:
    return f"{settings.ALERTMANAGER_URL.rstrip('/')}/api/v2/{path}"


def _raise_for(response: requests.Response) -> None:
    # Alertmanager answers 400 to a body it will never accept; anything else may pass.
    if response.status_code == 400:
        raise PermanentFailure(f"Alertmanager refused the silence: {response.text[:300]}")
    response.raise_for_status()


def silence_queue(occurrence: Occurrence, *, after=None) -> None:
    """Ask for the occurrence's silence once this commits; with `after` (the end of the silence it
    has), ask to extend it. The key makes each request once, however often this is called."""
    if not settings.ALERTMANAGER_URL:
        return
    started = int(occurrence.started_at.timestamp()) if occurrence.started_at else 0
    extension = f"-after-{int(after.timestamp())}" if after else ""
    outbox_send(
        kind=SILENCE,
        payload={"occurrence": occurrence.pk},
        key=f"occurrence-{occurrence.pk}-{started}-silence{extension}",
        summary=f"{'Extend the silence' if after else 'Silence alerts'} during “{occurrence.window.title}” "
        f"({occurrence.key})",
    )


def send_silence(payload: dict) -> dict:
    """Silence the covered components and those that depend on them, until the occurrence's end (or,
    if it overruns, a grace period from now); an existing silence is updated, not doubled."""
    occurrence = Occurrence.objects.select_related("window").filter(pk=payload["occurrence"]).first()
    if occurrence is None or occurrence.status != OccurrenceStatus.IN_PROGRESS:
        return {"skipped": "the occurrence is no longer in progress"}
    if not settings.ALERTMANAGER_URL:
        return {"skipped": "ALERTMANAGER_URL is not set"}
    ids = list(occurrence.window.components.values_list("pk", flat=True))
    names = list(occurrence.window.components.values_list("slug", flat=True))
    names += list(selectors.dependents_of(ids).values_list("slug", flat=True))
    ends_at = max(occurrence.end, timezone.now()) + timedelta(minutes=settings.PATCHING_SILENCE_GRACE_MINUTES)
    body = _silence_body(occurrence, names, ends_at)
    if occurrence.silence_ids:
        body["id"] = occurrence.silence_ids[-1]  # Alertmanager replaces that silence
    response = requests.post(_alertmanager("silences"), json=body, timeout=TIMEOUT)
    _raise_for(response)
    silence_id = response.json()["silenceID"]
    Occurrence.objects.filter(pk=occurrence.pk).update(silence_ids=[silence_id], silenced_until=ends_at)
    return {"silence_id": silence_id, "ends_at": ends_at.isoformat()}


def expire_queue(occurrence: Occurrence) -> None:
    """Closing early expires the silences once this commits, so alerts come back at once."""
    if occurrence.silence_ids and settings.ALERTMANAGER_URL:
        outbox_send(
            kind=EXPIRE,
            payload={"silence_ids": occurrence.silence_ids},
            key=f"occurrence-{occurrence.pk}-expire-{'-'.join(occurrence.silence_ids)}",
            summary=f"Expire the silence of “{occurrence.window.title}” ({occurrence.key})",
        )


def send_expire(payload: dict) -> dict:
    for silence_id in payload["silence_ids"]:
        response = requests.delete(_alertmanager(f"silence/{silence_id}"), timeout=TIMEOUT)
        if response.status_code != 404:  # gone already: nothing left to expire
            response.raise_for_status()
    return {"expired": payload["silence_ids"]}


def silences_extend(*, now=None) -> int:
    """Extend the silence of every occurrence still in progress whose silence is about to end."""
    now = now or timezone.now()
    due = Occurrence.objects.select_related("window").filter(
        status=OccurrenceStatus.IN_PROGRESS, silenced_until__lte=now + EXTEND_AHEAD
    )
    for occurrence in due:
        silence_queue(occurrence, after=occurrence.silenced_until)
    return len(due)


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


def send_reminder_webhook(payload: dict) -> dict:
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if settings.PATCHING_WEBHOOK_SECRET:
        headers[HEADER] = sign(settings.PATCHING_WEBHOOK_SECRET, body)
    response = requests.post(settings.PATCHING_WEBHOOK_URL, data=body, headers=headers, timeout=TIMEOUT)
    response.raise_for_status()
    return {"status": response.status_code}


def send_reminder_mail(payload: dict) -> dict:
    subject = f"Patch window “{payload['window']['title']}” starts {payload['start']}"
    steps = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(payload["runbook"])) or "(no runbook)"
    text = f"Components: {', '.join(payload['components'])}\nEnds: {payload['end']}\n\nRunbook:\n{steps}\n"
    return {"sent": send_mail(subject, text, None, settings.PATCHING_REMINDER_EMAILS)}


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
        if _claim_reminder(view, now):
            sent += 1
    return sent


def _claim_reminder(view, now) -> bool:
    """Mark the occurrence reminded and queue its reminders, in one transaction: once, and never lost."""
    from estate.patching.services import occurrence_materialise

    with transaction.atomic():
        row = occurrence_materialise(view.window, view.original_start)
        if not Occurrence.objects.filter(pk=row.pk, reminded_at__isnull=True).update(reminded_at=now):
            return False
        payload = _reminder_payload(view)
        summary = f"Reminder: “{view.window.title}” starts {view.start:%Y-%m-%d %H:%M} UTC"
        channels = (
            (REMINDER_WEBHOOK, settings.PATCHING_WEBHOOK_URL),
            (REMINDER_MAIL, settings.PATCHING_REMINDER_EMAILS),
        )
        for kind, enabled in channels:
            if enabled:
                outbox_send(kind=kind, payload=payload, key=f"occurrence-{row.pk}-{kind}", summary=summary)
        return True
