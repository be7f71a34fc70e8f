"""The discovery pages: the sources, their runs and reports, Sync now, and detaching a component."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from estate.access import scope
from estate.core.errors import ApplicationError
from estate.core.paging import paginate
from estate.discovery import ownership, rules, selectors, services
from estate.discovery.models import DiscoverySource, SyncRun
from estate.inventory.models import Component

DISCOVERY_CRUMB = ("Discovery", reverse_lazy("discovery_page"))


def _require_read(user) -> None:
    if not rules.may_read(user):
        raise PermissionDenied("Reading discovery needs a role that reads the inventory.")


def _live(request) -> bool:
    """An HTMX poll re-renders only the live part (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@login_required
def discovery_page(request):
    _require_read(request.user)
    sources = selectors.source_overview()
    context = {
        "sources": sources,
        "live": any(s.next_run_at is None and s.enabled for s in sources),
        "may_manage": rules.may_manage(request.user),
        "crumbs": [("Discovery", None)],
    }
    template = "discovery/discovery_page.html" + ("#sources" if _live(request) else "")
    return render(request, template, context)


@login_required
def discovery_source(request, pk: int):
    _require_read(request.user)
    source = get_object_or_404(DiscoverySource, pk=pk)
    page = paginate(request, selectors.source_runs(source))
    page.object_list = selectors.coloured(page.object_list)
    context = {
        "source": source,
        "page": page,
        "live": any(run.state in selectors.ACTIVE for run in page.object_list),
        "may_manage": rules.may_manage(request.user),
        "crumbs": [DISCOVERY_CRUMB, (source.name, None)],
    }
    template = "discovery/source_detail.html" + ("#runs" if _live(request) else "")
    return render(request, template, context)


@login_required
def discovery_run(request, pk: int):
    _require_read(request.user)
    run = get_object_or_404(SyncRun.objects.select_related("source", "requested_by"), pk=pk)
    selectors.coloured([run])
    changes, change_count = selectors.run_changes(run)
    context = {
        "run": run,
        "report": selectors.report_rows(run),
        "changes": changes,
        "change_count": change_count,
        "live": run.state in selectors.ACTIVE,
        "crumbs": [
            DISCOVERY_CRUMB,
            (run.source.name, reverse("discovery_source", args=[run.source_id])),
            (f"Run #{run.pk}", None),
        ],
    }
    template = "discovery/run_detail.html" + ("#live" if _live(request) else "")
    return render(request, template, context)


@login_required
@require_POST
def discovery_sync(request, pk: int):
    """Sync now: the API's rule (admins); the run's page then shows it live."""
    if not rules.may_manage(request.user):
        raise PermissionDenied(rules.MANAGE_REFUSED)
    source = get_object_or_404(DiscoverySource, pk=pk)
    try:
        run = services.sync_request(source=source, user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("discovery_page")
    messages.success(request, f"Sync of {source.name} queued.")
    return redirect("discovery_run", run.pk)


@login_required
@permission_required("inventory.change_component", raise_exception=True)
@require_POST
def discovery_detach(request, pk: int):
    """Detach a component from its source (the component page's button)."""
    component = get_object_or_404(Component, pk=pk)
    scope.require(request.user, component)
    record = ownership.record_of(component)
    if record is None:
        messages.error(request, f"{component.name} was not found by a source: it is hand-managed already.")
        return redirect(component)
    try:
        ownership.component_detach(record=record, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(component)
    messages.success(request, f"{component.name} detached from {record.source.actor_name}: every field is yours.")
    return redirect(component)
