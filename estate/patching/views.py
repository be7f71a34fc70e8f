from __future__ import annotations

import hashlib
import math
import time
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError as DRFValidationError

from estate.access import scope
from estate.access.models import ApiToken
from estate.access.services import token_used
from estate.core.errors import ApplicationError
from estate.core.panels import annotations, render_panels
from estate.core.services import validated_save
from estate.core.timezones import viewer_zone_name
from estate.inventory.choices import Mode
from estate.inventory.models import Component
from estate.patching import deadlines, ical, selectors, services
from estate.patching.api.views import occurrence_by_key, query_filters, query_range
from estate.patching.choices import CHANGE_KIND_COLOURS, STATUS_COLOURS, TABLER_HEX, ChangeKind, OccurrenceStatus
from estate.patching.forms import CalendarFilterForm, ChangeFreezeForm, FreezeImportForm, PatchWindowForm
from estate.patching.marks import occurrence_marks
from estate.patching.models import ChangeFreeze, Deadline, FeedToken, PatchWindow
from estate.patching.recurrence import next_starts, wall_clock

CALENDAR_CRUMB = ("Patch calendar", reverse_lazy("calendar"))


def _legend() -> dict:
    return {
        "kinds": [(k.label, TABLER_HEX[CHANGE_KIND_COLOURS[k]]) for k in ChangeKind],
        "statuses": [(s.label, TABLER_HEX[STATUS_COLOURS[s]]) for s in OccurrenceStatus],
        "kind_colours": {k.value: TABLER_HEX[c] for k, c in CHANGE_KIND_COLOURS.items()},
        "status_colours": {s.value: TABLER_HEX[c] for s, c in STATUS_COLOURS.items()},
    }


@login_required
def calendar(request):
    filters = CalendarFilterForm(request.GET or None)
    return render(
        request,
        "patching/calendar.html",
        {
            "filters": filters,
            "legend": _legend(),
            "tokens": FeedToken.objects.filter(user=request.user, api_token__in=ApiToken.objects.active()),
            # A new feed's address, shown once (kept in the server-side session, never in a cookie).
            "new_feed_url": request.session.pop("new_feed_url", None),
            "crumbs": [("Patch calendar", None)],
        },
    )


@login_required
@require_GET
def calendar_events(request):
    """FullCalendar's event source, bounded to the range on screen."""
    try:
        start, end = query_range(request.GET)
        filters = query_filters(request.GET)
    except DRFValidationError as exc:
        return JsonResponse({"detail": "Give a valid range and filters.", "errors": exc.detail}, status=400)
    windows = selectors.active_in(selectors.window_list(filters), start, end)
    occurrences = selectors.occurrences_between(windows, start, end)
    freezes = list(ChangeFreeze.objects.filter(start__lt=end, end__gt=start).select_related("environment", "system"))
    marks = occurrence_marks(occurrences, freezes, timezone.now())
    colours = _legend()
    progress = annotations("calendar_occurrences", occurrences)  # a runbook run's steps done, if one runs
    events = [_occurrence_event(o, marks.get(o.key, []), colours, progress.get(o.key, "")) for o in occurrences]
    events += [
        {
            "id": f"freeze-{f.pk}",
            "title": f"Freeze: {f.name} ({f.target})",
            "start": f.start.isoformat(),
            "end": f.end.isoformat(),
            "display": "background",
            "classNames": ["change-freeze"],
            "extendedProps": {"freeze": True},
        }
        for f in freezes
    ]
    return JsonResponse(events, safe=False)


def _occurrence_event(o, warnings: list[str], colours: dict, progress: str = "") -> dict:
    """One occurrence for FullCalendar: titled by what it takes down, and where; marked when it conflicts
    with another occurrence or a freeze, or is overdue."""
    components = list(o.window.components.all())
    classes = [f"occurrence-{o.status}"]
    if any(w.startswith("Overdue") for w in warnings):
        classes.append("occurrence-overdue")
    if any(not w.startswith("Overdue") for w in warnings):
        classes.append("occurrence-conflict")
    return {
        "id": o.key,
        "title": ("⚠ " if warnings else "") + ("▶ " if progress else "") + _event_title(o.window, components),
        "start": o.start.isoformat(),
        "end": o.end.isoformat(),
        "backgroundColor": colours["kind_colours"][o.window.change_kind],
        "borderColor": colours["status_colours"][o.status],
        "classNames": classes,
        "extendedProps": {
            "status": o.status,
            "changeKind": o.window.change_kind,
            "url": reverse("occurrence_detail", args=[o.key]),
            "components": [c.name for c in components],
            "windowTitle": o.window.title,
            "warnings": warnings,
            "progress": progress,
        },
    }


def _event_title(window: PatchWindow, components: list) -> str:
    """ "payments-db-1 (production) · OS patch": the component and environment first, as people look for them."""
    if not components:
        return window.title
    environments = sorted({c.environment.slug for c in components})
    names = components[0].name + (f" +{len(components) - 1}" if len(components) > 1 else "")
    return f"{names} ({', '.join(environments)}) · {window.get_change_kind_display()}"


def _occurrence_context(key: str, error: str = "") -> dict:
    row = occurrence_by_key(key, store=False)
    window = row.window
    components = list(window.components.select_related("environment", "cluster"))
    return {
        "occurrence": row,
        "window": window,
        "local_start": timezone.localtime(row.start, window.tz).replace(tzinfo=None),
        "local_end": timezone.localtime(row.end, window.tz).replace(tzinfo=None),
        "components": components,
        "blast_radius": selectors.blast_radius([c.pk for c in components]),
        "steps": [(i, step, i in row.steps_done) for i, step in enumerate(window.runbook)],
        "error": error,
    }


@login_required
def occurrence_detail(request, key: str):
    try:
        context = _occurrence_context(key)
    except (ApplicationError, Http404):
        return render(request, "404.html", {"what": f"occurrence {key}", "crumbs": [CALENDAR_CRUMB]}, status=404)
    if request.htmx:
        return render(request, "patching/occurrence_detail.html#panel", context)
    context["crumbs"] = [CALENDAR_CRUMB, (str(context["occurrence"]), None)]
    context["panels"] = render_panels("occurrence_detail", request, context["occurrence"])  # a runbook's console
    return render(request, "patching/occurrence_detail.html", context)


def _parse_local(value: str, window: PatchWindow) -> datetime:
    try:
        naive = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError("Give the new start as a date and time.") from exc
    return wall_clock(naive, window.time_zone, "start")


@login_required
@permission_required("patching.change_occurrence", raise_exception=True)
@require_POST
def occurrence_action(request, key: str, action: str):
    try:
        row = occurrence_by_key(key)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    post, error = request.POST, ""
    try:
        if action == "start":
            services.occurrence_start(occurrence=row, actor=request.user)
        elif action in ("complete", "fail"):
            services.occurrence_close(
                occurrence=row,
                actor=request.user,
                failed=action == "fail",
                notes=post.get("notes", ""),
                engine_version_before=post.get("engine_version_before", ""),
                engine_version_after=post.get("engine_version_after", ""),
                steps_done=[int(i) for i in post.getlist("steps") if i.isdigit()],
            )
        elif action in ("skip", "cancel"):
            services.occurrence_skip(occurrence=row, actor=request.user, notes=post.get("notes", ""),
                                     cancel=action == "cancel")  # fmt: skip
        elif action == "move":
            services.occurrence_move(occurrence=row, start=_parse_local(post.get("start", ""), row.window),
                                     actor=request.user)  # fmt: skip
        elif action == "tick":
            services.occurrence_tick(occurrence=row, steps_done=[int(i) for i in post.getlist("steps") if i.isdigit()])
        else:
            raise Http404
    except ApplicationError as exc:
        error = exc.message
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:
        response = render(request, "patching/occurrence_detail.html#panel", _occurrence_context(row.key, error))
        response["HX-Trigger"] = "occurrence-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect("occurrence_detail", key=row.key)


@login_required
def window_list(request):
    windows = selectors.window_list().order_by("title", "pk")
    crumbs = [CALENDAR_CRUMB, ("Windows", None)]
    return render(request, "patching/window_list.html", {"windows": windows, "crumbs": crumbs})


def _checks_context(form: PatchWindowForm, window: PatchWindow | None) -> dict:
    if not form.is_valid():
        return {"checked": False}
    data = form.service_data()
    try:
        conflicts = services.window_check(data=data, window=window)
    except ValidationError as exc:
        return {"checked": True, "refusals": exc.messages, "conflicts": [], "preview": []}
    zone = form.cleaned_data["time_zone"]
    starts = next_starts(start=data["start"], duration=data["duration"], time_zone=zone, rule=data["rrule"],
                         after=timezone.now(), count=6)  # fmt: skip
    # Naive local times: the template would otherwise show them in the viewer's zone again.
    preview = [(s, timezone.localtime(s, data["start"].tzinfo).replace(tzinfo=None)) for s in starts]
    return {"checked": True, "conflicts": [c.as_dict() for c in conflicts], "preview": preview, "zone": zone}


@login_required
@require_POST
def window_check(request, pk: int | None = None):
    """The form's live check (HTMX): conflicts and the next occurrences, before saving."""
    window = get_object_or_404(PatchWindow, pk=pk) if pk else None
    form = PatchWindowForm(request.POST, user=request.user)
    return render(request, "patching/window_form.html#checks", _checks_context(form, window))


# The recurrence builder's choices (static/js/recurrence.js turns them into the RRULE field).
RECURRENCE_BUILDER = {
    "recurrence_modes": [("once", "Once"), ("weekly", "Weekly"), ("monthly", "Monthly"), ("advanced", "RRULE")],
    "weekdays": [(day[:2].upper(), day) for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")],
}


def _new_window_initial(request) -> dict:
    # The viewer's zone (their browser's, from the cookie); without it, UTC here and the browser's
    # zone set by timezone.js on the select marked data-default-zone.
    initial = {"time_zone": viewer_zone_name(request) or "UTC", "duration_minutes": 60}
    return {**initial, **_planned_for(request), **_proposed(request)}


def _proposed(request) -> dict:
    """“Edit first” on a deadline's proposal: the form holds the window accept would save (times in UTC)."""
    pk = request.GET.get("deadline", "")
    rows = Deadline.objects.filter(proposed_start__isnull=False, window__isnull=True).select_related("component")
    deadline = rows.filter(pk=pk).first() if pk.isdigit() and len(pk) <= 18 else None
    if deadline is None or not scope.within(request.user, Component.objects.filter(pk=deadline.component_id)).exists():
        return {}
    data = deadlines.window_data(deadline)
    return {
        "title": data["title"],
        "description": data["description"],
        "components": [deadline.component_id],
        "start": data["start"].astimezone(UTC).replace(tzinfo=None),
        "time_zone": "UTC",
        "duration_minutes": int(data["duration"].total_seconds() // 60),
        "change_kind": data["change_kind"],
    }


def _planned_for(request) -> dict:
    """ "Plan a window" from a component's page: that component chosen, the title naming it and its engine."""
    pk = request.GET.get("component", "")
    component = (
        scope.within(request.user, Component.objects.filter(mode=Mode.BASTION)).filter(pk=pk).first()
        if pk.isdigit() and len(pk) <= 18
        else None
    )
    if component is None:
        return {}
    engine = " ".join(part for part in (component.get_engine_display() if component.engine else "",
                                        component.engine_version) if part)  # fmt: skip
    title = f"Patch {component.name}" + (f" ({engine})" if engine else "")
    return {"components": [component.pk], "title": title[:200]}


def _window_form(request, window: PatchWindow | None):
    initial = PatchWindowForm.initial_from(window) if window else _new_window_initial(request)
    form = PatchWindowForm(request.POST or None, initial=initial, user=request.user)
    if window is None and not form.is_bound:
        form.fields["time_zone"].widget.attrs["data-default-zone"] = "browser"
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.window_save(data=form.service_data(), window=window, actor=request.user)
        except ApplicationError as exc:
            for message in exc.errors.get("conflicts", [exc.message]):
                form.add_error(None, message)
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            # Refused all the same (403), but beside the components so the person can pick others.
            form.add_error("components", str(exc))
            status = 403
        else:
            for warning in saved.warnings:
                messages.warning(request, warning.as_dict()["message"])
            messages.success(request, f"Patch window “{saved.title}” saved.")
            if window is None and _proposed(request):
                return _answer_deadline(request, saved)
            return redirect("patch_window_list")
    crumbs = [
        CALENDAR_CRUMB,
        ("Windows", reverse("patch_window_list")),
        (window.title if window else "New window", None),
    ]
    context = {"form": form, "window": window, "crumbs": crumbs, **RECURRENCE_BUILDER, **_checks_context(form, window)}
    return render(request, "patching/window_form.html", context, status=status)


def _answer_deadline(request, window: PatchWindow):
    """The window came from a deadline's "Edit first": it answers that deadline; back to its component."""
    deadline = Deadline.objects.select_related("component").get(pk=request.GET["deadline"])
    try:
        deadlines.deadline_link(deadline_id=deadline.pk, window=window)
    except ApplicationError as exc:  # accepted meanwhile by someone else: the window stays, say so
        messages.warning(request, exc.message)
    return redirect(deadline.get_absolute_url())


@login_required
@permission_required("patching.add_patchwindow", raise_exception=True)
@require_POST
def deadline_accept(request, pk: int):
    """Accept in one click: the proposal becomes a one-off window, or the reason it cannot is shown."""
    deadline = get_object_or_404(Deadline.objects.select_related("component"), pk=pk)
    scope.require(request.user, deadline.component)
    try:
        window = deadlines.deadline_accept(deadline_id=deadline.pk, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Patch window “{window.title}” planned for {window.start:%Y-%m-%d %H:%M} UTC.")
    return redirect(deadline.get_absolute_url())


@login_required
@permission_required("patching.add_patchwindow", raise_exception=True)
def window_create(request):
    return _window_form(request, None)


@login_required
@permission_required("patching.change_patchwindow", raise_exception=True)
def window_edit(request, pk: int):
    window = get_object_or_404(PatchWindow, pk=pk)
    scope.require(request.user, window)
    return _window_form(request, window)


@login_required
@permission_required("patching.change_patchwindow", raise_exception=True)
@require_POST
def window_pause(request, pk: int):
    window = get_object_or_404(PatchWindow, pk=pk)
    paused = request.POST.get("paused") == "true"
    try:
        services.window_set_paused(window=window, paused=paused)
        messages.success(request, f"“{window.title}” {'paused' if paused else 'resumed'}.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("patch_window_list")


@login_required
@permission_required("patching.delete_patchwindow", raise_exception=True)
@require_POST
def window_delete(request, pk: int):
    window = get_object_or_404(PatchWindow, pk=pk)
    services.window_delete(window=window)
    messages.success(request, f"Patch window “{window.title}” deleted.")
    return redirect("patch_window_list")


@login_required
def freeze_list(request):
    can_add = request.user.has_perm("patching.add_changefreeze")
    if request.method == "POST" and not can_add:
        raise PermissionDenied("Adding change freezes is part of the admin role.")
    form = ChangeFreezeForm(request.POST if request.POST.get("form") == "freeze" else None)
    upload = FreezeImportForm(
        request.POST if request.POST.get("form") == "import" else None,
        request.FILES if request.POST.get("form") == "import" else None,
    )
    if request.method == "POST" and can_add and _save_freeze(request, form, upload):
        return redirect("freeze_list")
    freezes = ChangeFreeze.objects.filter(end__gt=timezone.now() - timedelta(days=30)).select_related(
        "environment", "system"
    )
    crumbs = [CALENDAR_CRUMB, ("Change freezes", None)]
    context = {"freezes": freezes, "form": form, "upload": upload, "can_add": can_add, "crumbs": crumbs}
    return render(request, "patching/freeze_list.html", context)


def _save_freeze(request, form, upload) -> bool:
    if form.is_bound and form.is_valid():
        validated_save(form.instance)
        messages.success(request, f"Change freeze “{form.instance.name}” saved.")
        return True
    if upload.is_bound and upload.is_valid():
        data = upload.cleaned_data
        try:
            counts = ical.freezes_import(content=data["file"].read(), scope=data["scope"],
                                         environment=data["environment"], system=data["system"])  # fmt: skip
        except (ApplicationError, ValidationError) as exc:
            upload.add_error("file", getattr(exc, "message", None) or " ".join(exc.messages))
            return False
        messages.success(request, f"Imported {counts['created']} new and {counts['updated']} updated freezes.")
        return True
    return False


@login_required
@require_POST
def feed_token_create(request):
    try:
        filters = query_filters(request.POST)
    except DRFValidationError:
        messages.error(request, "A filter value may not contain a NUL byte.")
        return redirect("calendar")
    feed = services.feed_token_create(user=request.user, name=request.POST.get("name", ""), filters=filters)
    request.session["new_feed_url"] = request.build_absolute_uri(reverse("patch_feed", args=[feed.secret]))
    messages.success(request, "Feed created: copy its address into your calendar client now, it is shown once.")
    return redirect("calendar")


@login_required
@require_POST
def feed_token_revoke(request, pk: int):
    token = get_object_or_404(FeedToken, pk=pk, user=request.user)
    services.feed_token_revoke(token=token)
    messages.success(request, f"Feed “{token.name}” revoked; its address no longer works.")
    return redirect("calendar")


@require_GET
def feed(request, key: str):
    """The iCalendar feed; the token in the URL is its only credential (read-only, revocable)."""
    token = services.feed_for_secret(key)
    if token is None:
        return HttpResponse("Unknown, expired or revoked feed.", status=404, content_type="text/plain")
    feed = getattr(token, "feed", None)
    filters, name = (feed.filters, feed.name) if feed else ({}, "Patch windows")
    windows = selectors.window_list(filters)
    etag, changed = ical.feed_validators(windows, filters)
    # Whole seconds, rounded up; advertised only once that second is over, so a later change can
    # never share the Last-Modified a client already holds.
    last_modified = math.ceil(changed.timestamp())
    closed = time.time() >= last_modified
    if _not_modified(request, etag, last_modified if closed else None):
        response = HttpResponseNotModified()
    else:
        # Keyed by the ETag, which changes with any event: polling clients share one rendering.
        body = cache.get_or_set(
            # Hashed: names and ETags hold spaces and quotes, which memcached-style keys may not.
            "patch-feed:" + hashlib.sha256(f"{token.pk}:{name}:{etag}".encode()).hexdigest(),
            lambda: ical.feed_calendar(windows, name=f"Estate: {name}"),
            timeout=3600,
        )
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="patch-windows.ics"'
    response["ETag"] = etag
    if closed:
        response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = "private, no-cache"
    token_used(token)
    return response


def _not_modified(request, etag: str, last_modified: int | None) -> bool:
    """If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); 304 only when nothing changed."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return etag in tags or "*" in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and last_modified is not None and last_modified <= since
