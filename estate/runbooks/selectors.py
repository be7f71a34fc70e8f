"""What the occurrence page's console shows: the latest run, its steps and log, and what the viewer may do."""

from __future__ import annotations

from estate.access import scope
from estate.operations.choices import ACTIVE_STATES, OperationState
from estate.operations.models import OperationStep
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import occurrence_key
from estate.runbooks.models import RunbookRun, RunbookTemplate, RunStep, WindowRunbook

LOG_LINES = 40


def latest_run(occurrence) -> RunbookRun | None:
    if occurrence.pk is None:  # an occurrence nothing has happened to yet has no run
        return None
    return (
        RunbookRun.objects.filter(occurrence=occurrence)
        .select_related("operation__requested_by", "template")
        .order_by("-pk")
        .first()
    )


def console(occurrence, user) -> dict:
    """The console's context in a bounded number of queries, whatever the run's length."""
    run = latest_run(occurrence)
    attached = WindowRunbook.objects.filter(window_id=occurrence.window_id).select_related("template").first()
    context = {
        "occurrence": occurrence,
        "run": run,
        "attached": attached.template if attached else None,
        "templates": list(RunbookTemplate.objects.order_by("name").values_list("pk", "name")[:100]),
        "legacy_steps": len(occurrence.window.runbook or []),
        "may_attach": user.has_perm("runbooks.change_windowrunbook") and scope.allows(user, occurrence.window),
        "may_start": occurrence.status in (OccurrenceStatus.PLANNED, OccurrenceStatus.IN_PROGRESS)
        and user.has_perm("operations.add_operation")
        and scope.allows(user, occurrence.window),
    }
    if run is None:
        return context
    operation = run.operation
    steps = list(RunStep.objects.filter(run=run).select_related("decided_by").order_by("position"))
    log = list(OperationStep.objects.filter(operation=operation).order_by("-id")[:LOG_LINES])
    context.update(
        operation=operation,
        steps=steps,
        log=log[::-1],
        may_decide=user.has_perm("operations.change_operation") and scope.allows(user, operation),
        asking=next((s for s in steps if s.state == "asking"), None),
    )
    return context


def occurrence_panel(request, occurrence) -> dict:
    return console(occurrence, request.user)


def calendar_progress(occurrences: list) -> dict[str, str]:
    """{occurrence key: "Runbook: 3 of 11 steps"} for the occurrences on screen whose run is active; one query."""
    ids = [o.pk for o in occurrences if o.pk]
    if not ids:
        return {}
    runs = RunbookRun.objects.filter(occurrence_id__in=ids, operation__state__in=ACTIVE_STATES).values_list(
        "occurrence__window_id", "occurrence__original_start", "operation__progress_done",
        "operation__progress_total", "operation__state",
    )  # fmt: skip
    return {
        occurrence_key(window_id, start): f"Runbook: {done} of {total} steps"
        + (" (waiting for a person)" if state == OperationState.PAUSED else "")
        for window_id, start, done, total, state in runs
    }
