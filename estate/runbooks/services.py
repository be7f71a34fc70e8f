"""Starting a runbook run for an occurrence and answering a run that asks: the only writers outside a worker."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from estate.access import roles, scope
from estate.audit.choices import AuditAction
from estate.audit.services import audit_record
from estate.core.errors import ApplicationError
from estate.core.services import guard_write, validated_delete, validated_save
from estate.operations.choices import ACTIVE_STATES, OperationKind, OperationState
from estate.operations.flow import log_step
from estate.operations.models import Operation
from estate.operations.services import dispatch, operation_cancel, operation_resume
from estate.patching.choices import OccurrenceStatus
from estate.patching.models import Occurrence
from estate.patching.selectors import calendar_state, utc_text
from estate.patching.services import occurrence_start
from estate.runbooks import steps as step_schema
from estate.runbooks.choices import Decision, StepState, StepType
from estate.runbooks.engine import cluster_component_ids
from estate.runbooks.executors import actions_of
from estate.runbooks.models import RunbookRun, RunbookTemplate, RunStep, WindowRunbook


def _refuse(message: str, field: str = "non_field_errors", status: int = 400) -> ApplicationError:
    return ApplicationError(message, errors={field: [message]}, status=status)


RUN_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_RUN_PARAMS = 10


def _run_params(params) -> dict[str, str]:
    if params is None:
        return {}
    bad = (
        not isinstance(params, dict)
        or len(params) > MAX_RUN_PARAMS
        or not all(isinstance(k, str) and RUN_PARAM_NAME.match(k) for k in params)
        or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in params.values())
    )
    if bad:
        raise _refuse(
            f"At most {MAX_RUN_PARAMS} parameters, each a lower-case name and a text of 1 to 100 characters.", "params"
        )
    return params


def _with_run_params(step, params: dict[str, str]):
    if not params or not isinstance(step, dict) or step.get("type") != StepType.ACTION:
        return step
    own = {name: value for name, value in (step.get("params") or {}).items() if value not in ("", None)}
    return {**step, "params": {**params, **own}}


def runbook_for(occurrence: Occurrence, template: RunbookTemplate | None) -> tuple[RunbookTemplate | None, list[dict]]:
    """The template chosen for this run, else the window's, else the window's checklist lines as manual steps."""
    if template is None:
        attached = WindowRunbook.objects.filter(window=occurrence.window).select_related("template").first()
        template = attached.template if attached else None
    raw = template.steps if template else occurrence.window.runbook
    try:
        steps = step_schema.normalise(raw)
    except step_schema.StepError as exc:
        raise _refuse(str(exc), "template") from None
    if not steps:
        raise _refuse("The window has no runbook: attach a template or write its steps first.", "template")
    if template and (refusals := step_schema.unknown_actions(steps, actions_of(template.executor), template.executor)):
        raise _refuse(" ".join(refusals), "template")  # settings changed since the template was saved
    return template, steps


def _check_window(occurrence: Occurrence) -> None:
    now = timezone.now()
    if occurrence.status not in (OccurrenceStatus.PLANNED, OccurrenceStatus.IN_PROGRESS):
        raise _refuse(f"The occurrence is {occurrence.get_status_display().lower()}; only a planned or running "
                      "one is run.", "occurrence", status=409)  # fmt: skip
    if not occurrence.start <= now < occurrence.end:
        raise _refuse(f"A run starts only inside its window: {utc_text(occurrence.start)} to "
                      f"{utc_text(occurrence.end)}; it is {utc_text(now)}.", "occurrence", status=409)  # fmt: skip


def run_start(
    *, occurrence: Occurrence, requested_by, template: RunbookTemplate | None = None, params: dict | None = None
) -> RunbookRun:
    """Record a run of the runbook (an operation of kind run_runbook on the window's first component) and
    wake a worker once committed. Refused outside the occurrence's window, in a change freeze, and while
    any of the window's components has an operation in progress.

    `params` fill what the template's action steps leave empty ({"version": "16.5"} for a shipped
    template's upgrade steps), so one template serves every upgrade; a step's own value wins."""
    params = _run_params(params)
    components = list(occurrence.window.components.order_by("name"))
    if not components:
        raise _refuse("The window covers no component.", "occurrence")
    guard_write(Operation(component=components[0]))
    _check_window(occurrence)
    template, steps = runbook_for(occurrence, template)
    steps = [_with_run_params(step, params) for step in steps]
    if (calendar := calendar_state(components[0])).closed:
        raise _refuse(calendar.reason, "occurrence", status=409)
    busy = Operation.objects.filter(component_id__in=cluster_component_ids(occurrence.window),
                                    state__in=ACTIVE_STATES).first()  # fmt: skip
    if busy is not None:
        raise _refuse(f"{busy.component} already has an operation in progress (#{busy.pk}).", status=409)
    with transaction.atomic():
        operation = Operation(
            kind=OperationKind.RUN_RUNBOOK,
            component=components[0],
            requested_by=requested_by,
            reason=f"Runbook for {occurrence}",
            progress_total=len(steps),
            # Where the run belongs, for the operation's page and the API (the run row says it too).
            params={"occurrence": occurrence.key, "template": template.pk if template else None},
        )
        try:
            validated_save(operation, action=AuditAction.OPERATION_STARTED, message=operation.reason)
        except ValidationError as exc:
            raise _refuse(f"{components[0]} already has an operation in progress.", status=409) from exc
        run = RunbookRun.objects.create(operation=operation, occurrence=occurrence, template=template,
                                        executor=template.executor if template else "")  # fmt: skip
        RunStep.objects.bulk_create(
            RunStep(run=run, position=i, type=s["type"], name=s["name"], spec=s) for i, s in enumerate(steps)
        )
        if occurrence.status == OccurrenceStatus.PLANNED:
            occurrence_start(occurrence=occurrence, actor=requested_by)
        what = f"“{template}”" if template else "the window's checklist"
        log_step(operation, f"Run of {what} requested by {requested_by or 'a script'}: {len(steps)} step(s).")
        transaction.on_commit(lambda: dispatch(operation.pk))
    return run


def approval_refusal(user, operation: Operation) -> str:
    """Why `user` may not approve a step of this run ("" when they may): the two-person rule."""
    if user is None or not user.is_authenticated:
        return "An approval is given by a person who is logged in."
    if operation.requested_by_id == user.pk:
        return (f"{user.get_username()} requested this run; another operator must approve it "
                "(two people: one asks, one approves).")  # fmt: skip
    if roles.role_of(user) not in (roles.OPERATOR, roles.ADMIN):
        return "Approving a run needs the operator role."
    return scope.refusal(user, operation)


ALLOWED = {
    Decision.APPROVE: (StepType.APPROVAL,),
    Decision.TICK: (StepType.MANUAL,),
    Decision.RETRY: (StepType.ACTION, StepType.GATE, StepType.NOTIFY, StepType.MANUAL),
    Decision.SKIP: (StepType.ACTION, StepType.GATE, StepType.NOTIFY, StepType.MANUAL),
}


def run_decide(*, run: RunbookRun, position: int, decision: str, user) -> RunbookRun:
    """Answer the step the run asks about (approve, tick, retry, skip), or abort the run; the run goes on."""
    operation = run.operation
    guard_write(operation)
    if decision == Decision.ABORT:
        operation_cancel(operation=operation, user=user)
        return run
    if decision not in ALLOWED:
        raise _refuse(f"Decide one of: {', '.join(Decision.values)}; got {decision!r}.", "decision")
    with transaction.atomic():
        step = RunStep.objects.select_for_update().filter(run=run, position=position).first()
        if step is None:
            raise _refuse(f"The run has no step {position + 1}.", "step", status=404)
        _check_decision(step, decision, user, operation)
        _apply(step, decision, user)
        audit_record(action=AuditAction.CHANGE, obj=operation, changes={"step": [step.position + 1, decision]},
                     message=f"{Decision(decision).label}: step {step.position + 1} “{step.name}”")  # fmt: skip
        log_step(operation, f"Step {step.position + 1} “{step.name}”: {Decision(decision).label.lower()} by {user}.")
        operation_resume(operation=operation, user=user)
    return run


def _check_decision(step: RunStep, decision: str, user, operation: Operation) -> None:
    if operation.state != OperationState.PAUSED or step.state != StepState.ASKING:
        state = step.get_state_display().lower()
        raise _refuse(f"Step {step.position + 1} is not waiting for a person (it is {state}).", "step", status=409)
    if step.type not in ALLOWED[decision]:
        why = " An approval is given, never skipped: abort the run instead." if step.type == StepType.APPROVAL else ""
        raise _refuse(f"A {step.get_type_display().lower()} step cannot be answered with {decision}.{why}", "decision")
    if decision == Decision.APPROVE and (reason := approval_refusal(user, operation)):
        raise _refuse(reason, "decision", status=403)


def _apply(step: RunStep, decision: str, user) -> None:
    now = timezone.now()
    if decision in (Decision.APPROVE, Decision.TICK, Decision.SKIP):
        step.state = StepState.SKIPPED if decision == Decision.SKIP else StepState.DONE
        step.finished_at, step.decided_by = now, user
    else:  # retry: a gate waits afresh; an action asks again, with the same key, for the nodes not done
        step.state = StepState.RUNNING if step.idempotency_key else StepState.PENDING
        for key in ("deadline", "held_since", "looks"):
            step.detail.pop(key, None)
        step.detail["retries"] = step.detail.get("retries", 0) + 1
    step.question = ""
    step.save(update_fields=["state", "finished_at", "decided_by", "detail", "question"])


def window_runbook_set(*, window, template: RunbookTemplate | None) -> WindowRunbook | None:
    """Attach the template to the window (its occurrences run it unless a run chooses another), or detach it."""
    attached = WindowRunbook.objects.filter(window=window).first()
    if template is None:
        if attached is not None:
            validated_delete(attached)
        return None
    attached = attached or WindowRunbook(window=window)
    attached.template = template
    return validated_save(attached)
