"""Patching's writes: windows (checked against the conflict rules), occurrences and their actions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from estate.access.models import ApiToken, TokenScope
from estate.access.services import token_create, token_expiry_limit, token_revoke
from estate.audit.choices import AuditAction
from estate.audit.services import audit_event, audit_record, audit_record_many
from estate.core.errors import ApplicationError
from estate.core.services import assign, guard_write, validated_delete, validated_save
from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching import selectors
from estate.patching.choices import OccurrenceStatus
from estate.patching.conflicts import ERROR, Conflict, Draft, find_conflicts, horizon
from estate.patching.models import FeedToken, Occurrence, PatchWindow, Slot, WindowDeletion
from estate.patching.recurrence import check_moment, series_end
from estate.telemetry import services as telemetry_services

log = logging.getLogger(__name__)

IMMUTABLE_MESSAGE = (
    "{names} {verb} immutable: an immutable component is never patched in place. "
    "Queue a rebuild of its image and roll it instead."
)


def _refuse_immutable(components: list[Component]) -> None:
    if not components:
        raise ValidationError({"components": ["A window covers at least one bastion."]})
    immutables = [c.name for c in components if c.mode == Mode.IMMUTABLE]
    if immutables:
        verb = "is" if len(immutables) == 1 else "are"
        raise ValidationError({"components": [IMMUTABLE_MESSAGE.format(names=", ".join(immutables), verb=verb)]})


def _raise_conflicts(conflicts: list[Conflict]) -> None:
    errors = [c for c in conflicts if c.severity == ERROR]
    if errors:
        raise ApplicationError(
            errors[0].as_dict()["message"],
            errors={"conflicts": [c.as_dict()["message"] for c in errors]},
            status=409,
        )


def window_draft(window: PatchWindow, components: list[Component]) -> Draft:
    return Draft(
        components=components,
        start=window.start,
        duration=window.duration,
        time_zone=window.time_zone,
        rrule=window.rrule,
        window_id=window.pk,
    )


def window_check(*, data: dict[str, Any], window: PatchWindow | None = None) -> list[Conflict]:
    """The conflicts a draft would meet, without saving anything (the API's and the form's check)."""
    draft_window = PatchWindow(pk=window.pk if window else None)
    if window:
        for name in ("start", "duration", "time_zone", "rrule"):
            setattr(draft_window, name, getattr(window, name))
    components = list(data.get("components") or (window.components.all() if window else []))
    for name in ("start", "duration", "time_zone", "rrule"):
        if name in data:
            setattr(draft_window, name, data[name])
    _refuse_immutable(components)
    _clean_schedule(draft_window)
    return find_conflicts(window_draft(draft_window, components))


SCHEDULE_FIELDS = ("start", "duration", "time_zone", "rrule")


def _clean_schedule(window: PatchWindow) -> None:
    """A draft's schedule meets the model's rules (bounds of recurrence.py) before anything expands it."""
    window.clean_fields(exclude=[f.name for f in PatchWindow._meta.fields if f.name not in SCHEDULE_FIELDS])
    window.clean()


@transaction.atomic
def window_save(*, data: dict[str, Any], window: PatchWindow | None = None, actor=None) -> PatchWindow:
    """Create or change a window; refused with 409 when it breaks a conflict rule.

    Warnings (a shared immutable dependent) do not refuse; they come back on `window.warnings`.
    """
    window = window or PatchWindow(created_by=actor)
    before = _schedule(window) if window.pk else None
    m2m = assign(window, data)
    guard_write(window, m2m)  # before the conflict checks: their answers describe others' windows
    components = list(m2m["components"]) if "components" in m2m else list(window.components.all())
    _refuse_immutable(components)
    window.full_clean()
    window.series_end = series_end(
        start=window.start, duration=window.duration, time_zone=window.time_zone, rule=window.rrule
    )
    conflicts = [] if window.paused else find_conflicts(window_draft(window, components))
    _raise_conflicts(conflicts)
    if before is not None and before != _schedule(window):
        # A new schedule is a new series: exceptions recorded on the old one's future slots lapse.
        lapsed = Occurrence.objects.filter(
            window=window, original_start__gte=timezone.now(), status__in=RESCHEDULABLE_STATUSES
        )
        _record_lapsed(window, lapsed)
        lapsed.delete()
    _save_with_slots(window, m2m, components)
    window.warnings = [c for c in conflicts if c.severity != ERROR]
    return window


RESCHEDULABLE_STATUSES = (OccurrenceStatus.PLANNED, OccurrenceStatus.SKIPPED, OccurrenceStatus.CANCELLED)


def _record_lapsed(window: PatchWindow, occurrences) -> None:
    events = [
        audit_event(
            action=AuditAction.DELETE,
            obj=o,
            object_repr=f"{window.title} on {o.start:%Y-%m-%d %H:%M} UTC",
            changes={"window": window.pk, "original_start": o.original_start, "start": o.start, "status": o.status},
            message="The window's schedule changed.",
        )
        for o in occurrences
    ]
    audit_record_many(events)


def _schedule(window: PatchWindow) -> tuple:
    return (window.start, window.duration, window.time_zone, window.rrule)


def _save_with_slots(window: PatchWindow, m2m: dict, components: list[Component]) -> None:
    try:
        with transaction.atomic():
            validated_save(window, m2m=m2m)
            slots_sync(window)
    except (IntegrityError, ValidationError) as exc:
        # Another request planned the same component meanwhile: the database refused the overlap.
        conflicts = find_conflicts(window_draft(window, components))
        _raise_conflicts(conflicts)
        if isinstance(exc, ValidationError):
            raise
        raise ApplicationError("The window overlaps another one planned at the same time; reload.", status=409) from exc


def slots_sync(window: PatchWindow) -> int:
    """Rewrite the window's slots over the planning horizon (the rows the exclusion constraint guards)."""
    Slot.objects.filter(window=window).delete()
    if window.paused:
        return 0
    now, end = horizon(window.start)
    component_ids = list(window.components.values_list("pk", flat=True))
    occurrences = selectors.occurrences_between([window], now - timedelta(days=1), end, include_free=False)
    slots = [
        Slot(window=window, component_id=cid, original_start=o.original_start, start=o.start, end=o.end)
        for o in occurrences
        for cid in component_ids
    ]
    Slot.objects.bulk_create(slots)
    return len(slots)


@transaction.atomic
def window_set_paused(*, window: PatchWindow, paused: bool) -> PatchWindow:
    """Pause skips the whole series until resumed; resuming checks the conflict rules again."""
    guard_write(window)
    if not paused:
        _raise_conflicts(find_conflicts(window_draft(window, list(window.components.all()))))
    was, window.paused = window.paused, paused
    window.save(update_fields=["paused", "updated_at"])
    if was != paused:
        audit_record(action=AuditAction.CHANGE, obj=window, changes={"paused": [was, paused]})
    try:
        with transaction.atomic():
            slots_sync(window)
    except IntegrityError as exc:
        raise ApplicationError("Another window took this one's time meanwhile; reload.", status=409) from exc
    return window


def refuse_planned_component_delete(obj) -> None:
    """Delete guard: a component a patch window covers stays until it is taken out of the window, so no
    window is left over nothing (which would read as estate-wide, or worse, as anyone's)."""
    if not isinstance(obj, Component):
        return
    titles = sorted(PatchWindow.objects.filter(components=obj).values_list("title", flat=True).distinct())
    if titles:
        names = ", ".join(f"“{t}”" for t in titles[:5]) + (f" and {len(titles) - 5} more" if len(titles) > 5 else "")
        raise ApplicationError(
            f"{obj.name} is in patch window {names}: remove it from patch window {names} first.",
            errors={"patch_windows": titles},
            status=409,
        )


@transaction.atomic
def window_delete(*, window: PatchWindow) -> None:
    guard_write(window)
    WindowDeletion.objects.create(window_id=window.pk)
    validated_delete(window)


# --- occurrences ---------------------------------------------------------------------------


def occurrence_materialise(window: PatchWindow, original_start: datetime) -> Occurrence:
    """The stored row of an occurrence of the series, created the first time something happens to it."""
    row = selectors.occurrence_row(window, original_start)
    if row is None:
        raise ApplicationError("The window has no occurrence starting at that time.", status=404)
    guard_write(row)  # scope first: a refused action stores no row (and moves no feed's ETag)
    if row.pk:
        return row
    row, _ = Occurrence.objects.get_or_create(
        window=window, original_start=original_start, defaults={"start": row.start, "end": row.end}
    )
    return row


def _locked(occurrence: Occurrence) -> Occurrence:
    return Occurrence.objects.select_for_update().select_related("window").get(pk=occurrence.pk)


def _require(occurrence: Occurrence, allowed: tuple, action: str) -> None:
    if occurrence.status not in allowed:
        raise ApplicationError(
            f"Cannot {action} an occurrence that is {occurrence.get_status_display().lower()}.", status=409
        )


def _component_ids(occurrence: Occurrence) -> list[int]:
    return list(occurrence.window.components.values_list("pk", flat=True))


def components_enter_maintenance(component_ids: list[int], occurrence: Occurrence) -> int:
    reason = f"In patch window “{occurrence.window.title}”"
    return telemetry_services.maintenance_begin(component_ids=component_ids, reason=reason)


def components_leave_maintenance(component_ids: list[int]) -> int:
    """Back to unknown for telemetry to re-evaluate, unless another occurrence still covers them."""
    still = set(
        Component.objects.filter(
            pk__in=component_ids,
            patch_windows__occurrences__status=OccurrenceStatus.IN_PROGRESS,
            patch_windows__occurrences__end__gt=timezone.now(),
        ).values_list("pk", flat=True)
    )
    leaving = [pk for pk in component_ids if pk not in still]
    return telemetry_services.maintenance_end(
        component_ids=leaving, reason="Patch window closed; waiting for telemetry."
    )


@transaction.atomic
def occurrence_start(*, occurrence: Occurrence, actor=None) -> Occurrence:
    """Claim the occurrence (planned → in progress) and put its components in maintenance."""
    guard_write(occurrence)
    now = timezone.now()
    claimed = Occurrence.objects.filter(pk=occurrence.pk, status=OccurrenceStatus.PLANNED).update(
        status=OccurrenceStatus.IN_PROGRESS, started_at=now, ran_by=actor, updated_at=now
    )
    occurrence = Occurrence.objects.select_related("window").get(pk=occurrence.pk)
    if not claimed:
        _require(occurrence, (OccurrenceStatus.PLANNED,), "start")
    else:
        audit_record(
            action=AuditAction.OCCURRENCE_STARTED,
            obj=occurrence,
            changes={"status": [OccurrenceStatus.PLANNED, OccurrenceStatus.IN_PROGRESS]},
        )
    ids = _component_ids(occurrence)
    components_enter_maintenance(ids, occurrence)
    if claimed:
        _announce(occurrence, started=True)
    return occurrence


def _impact_text(occurrence: Occurrence) -> str:
    window = occurrence.window
    impact = window.get_impact_kind_display()
    if window.impact_seconds:
        impact += f" for about {window.impact_seconds} s"
    return f"{occurrence.start:%Y-%m-%d %H:%M} – {occurrence.end:%Y-%m-%d %H:%M} UTC. Expected impact: {impact}."


def _announce(occurrence: Occurrence, *, started: bool) -> None:
    """Silence (or unsilence) alerts and tell the owners, in the outbox, with the change."""
    from estate.notifications.choices import NotificationEvent
    from estate.notifications.services import absolute, notify
    from estate.patching import alerting

    if started:
        alerting.silence_queue(occurrence)
    else:
        alerting.expire_queue(occurrence)
    event = NotificationEvent.WINDOW_STARTED if started else NotificationEvent.WINDOW_ENDED
    verb = "started" if started else f"ended ({occurrence.get_status_display().lower()})"
    notify(
        event=event,
        key=f"occurrence-{occurrence.pk}-{event}-{int((occurrence.started_at or timezone.now()).timestamp())}",
        subject=f"Patch window “{occurrence.window.title}” {verb}",
        text=_impact_text(occurrence),
        component_ids=_component_ids(occurrence),
        link=absolute(reverse("occurrence_detail", args=[occurrence.key])),
        include_dependents=True,
    )


@transaction.atomic
def occurrence_close(
    *,
    occurrence: Occurrence,
    actor=None,
    failed: bool = False,
    notes: str = "",
    engine_version_before: str = "",
    engine_version_after: str = "",
    steps_done: list[int] | None = None,
) -> Occurrence:
    """Complete (or fail) an occurrence in progress: record what was done, end maintenance and silences."""
    guard_write(occurrence)
    occurrence = _locked(occurrence)
    _require(occurrence, (OccurrenceStatus.IN_PROGRESS,), "complete")
    occurrence.status = OccurrenceStatus.FAILED if failed else OccurrenceStatus.COMPLETED
    occurrence.ended_at = timezone.now()
    occurrence.ran_by = occurrence.ran_by or actor
    occurrence.notes = notes or occurrence.notes
    occurrence.engine_version_before = engine_version_before or occurrence.engine_version_before
    occurrence.engine_version_after = engine_version_after or occurrence.engine_version_after
    if steps_done is not None:
        occurrence.steps_done = _steps(occurrence, steps_done)
    validated_save(occurrence, action=AuditAction.OCCURRENCE_FAILED if failed else AuditAction.OCCURRENCE_COMPLETED)
    components_leave_maintenance(_component_ids(occurrence))
    _announce(occurrence, started=False)
    return occurrence


def _steps(occurrence: Occurrence, steps: list[int]) -> list[int]:
    count = len(occurrence.window.runbook)
    if any(not isinstance(i, int) or not 0 <= i < count for i in steps):
        raise ValidationError({"steps_done": [f"Steps are numbered 0 to {count - 1}."]})
    return sorted(set(steps))


@transaction.atomic
def occurrence_tick(*, occurrence: Occurrence, steps_done: list[int]) -> Occurrence:
    guard_write(occurrence)  # scope first: a refusal must not depend on the occurrence's state
    occurrence = _locked(occurrence)
    _require(occurrence, (OccurrenceStatus.PLANNED, OccurrenceStatus.IN_PROGRESS), "tick steps of")
    occurrence.steps_done = _steps(occurrence, steps_done)
    return validated_save(occurrence)


@transaction.atomic
def occurrence_skip(*, occurrence: Occurrence, actor=None, notes: str = "", cancel: bool = False) -> Occurrence:
    """Skip (or cancel) one occurrence; the rest of the series stays as it is."""
    guard_write(occurrence)  # scope first: a refusal must not depend on the occurrence's state
    occurrence = _locked(occurrence)
    _require(occurrence, (OccurrenceStatus.PLANNED,), "cancel" if cancel else "skip")
    occurrence.status = OccurrenceStatus.CANCELLED if cancel else OccurrenceStatus.SKIPPED
    occurrence.ran_by = actor
    occurrence.notes = notes or occurrence.notes
    validated_save(occurrence, action=AuditAction.OCCURRENCE_CANCELLED if cancel else AuditAction.OCCURRENCE_SKIPPED)
    slots_sync(occurrence.window)
    return occurrence


@transaction.atomic
def occurrence_move(*, occurrence: Occurrence, start: datetime, actor=None) -> Occurrence:
    """Move one planned occurrence; the move is checked against the same conflict rules."""
    guard_write(occurrence)  # scope first: a refusal must not depend on the occurrence's state
    check_moment(start, "start")
    occurrence = _locked(occurrence)
    _require(occurrence, (OccurrenceStatus.PLANNED,), "move")
    window = occurrence.window
    end = start + window.duration
    draft = window_draft(window, list(window.components.all()))
    draft.intervals = [(start, end)]
    _raise_conflicts(find_conflicts(draft))
    occurrence.start, occurrence.end = start, end
    validated_save(occurrence, action=AuditAction.OCCURRENCE_MOVED)
    try:
        with transaction.atomic():
            slots_sync(window)
    except IntegrityError as exc:
        raise ApplicationError("Another window took that time meanwhile; reload and pick another.", status=409) from exc
    return occurrence


# --- periodic work -------------------------------------------------------------------------


def occurrences_start_due(*, now: datetime | None = None) -> int:
    """Start every occurrence whose time has come (planned → in progress, components → maintenance)."""
    now = now or timezone.now()
    windows = selectors.active_in(PatchWindow.objects.filter(paused=False), now - timedelta(days=2), now)
    started = 0
    for view in selectors.occurrences_between(windows, now, now + timedelta(seconds=1)):
        if view.status == OccurrenceStatus.PLANNED and view.start <= now:
            row = occurrence_materialise(view.window, view.original_start)
            if Occurrence.objects.filter(pk=row.pk, status=OccurrenceStatus.PLANNED).exists():
                occurrence_start(occurrence=row)
                started += 1
    return started


def occurrences_flag_overdue(*, now: datetime | None = None) -> int:
    """Flag occurrences still in progress after their end; their components leave maintenance."""
    now = now or timezone.now()
    late = Occurrence.objects.filter(status=OccurrenceStatus.IN_PROGRESS, end__lte=now, overdue_at__isnull=True)
    flagged = 0
    for occurrence in late.select_related("window"):
        with transaction.atomic():
            if Occurrence.objects.filter(pk=occurrence.pk, overdue_at__isnull=True).update(overdue_at=now):
                components_leave_maintenance(_component_ids(occurrence))
                flagged += 1
    return flagged


def slots_refresh() -> int:
    """Roll every open-ended window's slots forward so the horizon keeps its length.

    Two series that only meet beyond the horizon they were checked over collide here: the
    database refuses the later one's slots, which is logged and leaves the other windows alone.
    """
    total = 0
    for window in PatchWindow.objects.filter(paused=False).filter(series_end__isnull=True):
        try:
            with transaction.atomic():
                total += slots_sync(window)
        except IntegrityError:
            log.warning("Window %s (%s) now overlaps another window on one of its components", window.pk, window)
    return total


# --- feed tokens ---------------------------------------------------------------------------


def feed_token_create(*, user, name: str, filters: dict[str, Any]) -> FeedToken:
    """A new feed; its address's secret is on `.secret`, the only time anyone sees it."""
    clean = {k: str(v) for k, v in filters.items() if v and k in FEED_FILTERS}
    if any("\x00" in value for value in clean.values()):
        # PostgreSQL stores no NUL byte in text or jsonb: refused here, not a DataError (a 500) at the save.
        raise ValidationError({"filters": ["A filter value may not contain a NUL byte."]})
    name = name.strip()[:100] or "Patch calendar"
    expires_at = token_expiry_limit()  # made with a token: it may not outlive that token
    with transaction.atomic():
        api_token, secret = token_create(
            user=user, name=f"Calendar feed: {name}"[:100], scope=TokenScope.FEED, expires_at=expires_at
        )
        feed = validated_save(FeedToken(user=user, name=name, api_token=api_token, filters=clean))
    feed.secret = secret
    return feed


def feed_token_revoke(*, token: FeedToken) -> FeedToken:
    token_revoke(token=token.api_token)
    return token


def feed_for_secret(secret: str) -> ApiToken | None:
    """The active calendar-feed token of an address, with its feed (a token made on the tokens
    page has none: it opens the feed of every window)."""
    return (
        ApiToken.objects.active()
        .filter(scope=TokenScope.FEED, key_hash=ApiToken.hash(secret))
        .select_related("feed")
        .first()
    )


FEED_FILTERS = ("environment", "system", "team", "component", "change_kind")
