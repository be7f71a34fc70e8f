"""The run's console on the occurrence page: start a run, answer its questions, abort it (POST, HTMX)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from estate.core.errors import ApplicationError
from estate.patching.api.views import occurrence_by_key
from estate.runbooks import selectors, services
from estate.runbooks.models import RunbookTemplate

PANEL = "runbooks/occurrence_panel.html"


def _occurrence(key: str, *, store: bool):
    try:
        return occurrence_by_key(key, store=store)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc


def _answer(request, occurrence, error: str = ""):
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("occurrence_detail", occurrence.key)
    context = {"panel": {**selectors.console(occurrence, request.user), "error": error}}
    return render(request, PANEL, context, status=200)


@login_required
@require_GET
def console(request, key: str):
    occurrence = _occurrence(key, store=False)
    return render(request, PANEL, {"panel": selectors.console(occurrence, request.user)})


@login_required
@permission_required("operations.add_operation", raise_exception=True)
@require_POST
def run_start(request, key: str):
    occurrence = _occurrence(key, store=True)
    template_id = request.POST.get("template", "")
    template = get_object_or_404(RunbookTemplate, pk=int(template_id)) if template_id.isdigit() else None
    try:
        version = request.POST.get("version", "").strip()
        params = {"version": version} if version else None
        services.run_start(occurrence=occurrence, requested_by=request.user, template=template, params=params)
    except ApplicationError as exc:
        return _answer(request, occurrence, exc.message)
    return _answer(request, occurrence)


@login_required
@permission_required("operations.change_operation", raise_exception=True)
@require_POST
def run_decide(request, key: str):
    """Answer the question of the occurrence's latest run (the one its console shows)."""
    occurrence = _occurrence(key, store=False)
    run = selectors.latest_run(occurrence)
    if run is None:
        raise Http404("This occurrence has no runbook run.")
    position = request.POST.get("step", "")
    error = ""
    try:
        services.run_decide(run=run, position=int(position) if position.isdigit() else -1,
                            decision=request.POST.get("decision", ""), user=request.user)  # fmt: skip
    except ApplicationError as exc:  # the approver who asked, a step not waiting: said on the console
        error = exc.message
    return _answer(request, occurrence, error)


@login_required
@permission_required("runbooks.change_windowrunbook", raise_exception=True)
@require_POST
def window_attach(request, key: str):
    """Attach a template to the occurrence's window (or detach it, with no template chosen)."""
    occurrence = _occurrence(key, store=False)
    template_id = request.POST.get("template", "")
    template = get_object_or_404(RunbookTemplate, pk=int(template_id)) if template_id.isdigit() else None
    try:
        services.window_runbook_set(window=occurrence.window, template=template)
    except ApplicationError as exc:
        return _answer(request, occurrence, exc.message)
    return _answer(request, occurrence)
