"""Carries a runbook run forward, one step after another, on the operations engine (operations/engine.py).

Each step is a checkpoint (a RunStep row). What makes a run safe to resume on another worker:
- an action step's idempotency key and the nodes it acts on are committed before the executor is
  asked, and each node done is recorded as it is done: a resumed step asks only for the nodes not
  recorded, with the same key, which the executor honours (it answers, it does not act again);
- a gate keeps its deadline and the moment its conditions started to hold in the row, so the time it
  waits and the time they must hold count across wake-ups and workers; it never sleeps (Snooze);
- a step that needs a person (approval, manual, a gate that timed out, an executor that failed or took
  too long, the window's end) pauses the operation with the question on the step; a decision
  (services.run_decide) answers it and queues the run again.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from estate.core.errors import ApplicationError
from estate.inventory.models import Component
from estate.operations.choices import OperationState, StepLevel
from estate.operations.flow import Cancelled, LeaseLost, log_step
from estate.operations.models import Operation
from estate.operations.providers.base import Snooze
from estate.runbooks import conditions
from estate.runbooks.choices import StepState, StepType, Target
from estate.runbooks.executors import ExecutorError, Member, executor_for
from estate.runbooks.models import RunbookRun, RunStep


class AskPerson(Exception):  # noqa: N818 - a signal, not an error
    """The run cannot go on without a person: pause it, the step saying why."""


def advance(r) -> None:
    """The runner registered for run_runbook: one turn of the run on the worker holding `r` (engine.Run)."""
    run = RunbookRun.objects.select_related("occurrence__window", "operation__requested_by").get(operation=r.op)
    turn = Turn(r, run)
    try:
        turn.go()
    except AskPerson as ask:
        turn.pause(str(ask))
    except Cancelled:
        turn.aborted()


class Turn:
    def __init__(self, r, run: RunbookRun):
        self.r, self.run, self.op = r, run, r.op
        self.occurrence = run.occurrence
        self.executor = executor_for(run.executor, operation=r.op, heartbeat=r.keep_going) if run.executor else None

    # --- the run -----------------------------------------------------------------------------
    def go(self) -> None:
        if self.executor and not self.op.result.get("versions_before_asked"):
            self.record_versions("before")
            self.r.save_result(versions_before_asked=True)
        for step in RunStep.objects.filter(run=self.run).order_by("position"):
            if step.finished:
                continue
            self.r.keep_going()
            self.perform(step)
            self.progress()
        if self.executor:
            self.record_versions("after")
        self.close_occurrence()
        skipped = RunStep.objects.filter(run=self.run, state=StepState.SKIPPED).count()
        self.r.finish(OperationState.SUCCEEDED, message=f"Runbook finished ({skipped} step(s) skipped).")

    def perform(self, step: RunStep) -> None:
        if step.state == StepState.ASKING:  # resumed without an answer (the operations API): ask again
            raise AskPerson(step.question)
        if step.state == StepState.PENDING:
            self.begin(step)
        {
            StepType.ACTION: self.action,
            StepType.GATE: self.gate,
            StepType.APPROVAL: self.approval,
            StepType.MANUAL: self.manual,
            StepType.NOTIFY: self.notify,
        }[step.type](step)

    def begin(self, step: RunStep) -> None:
        """Pending → running, with its idempotency key, committed before anything is asked of anyone."""
        if timezone.now() >= self.occurrence.end:
            self.ask(step, f"{said(step)}: the window ended at {self.occurrence.end:%Y-%m-%d %H:%M} UTC; nothing is "
                           "started after it. Skip the step, retry it, or abort the run.")  # fmt: skip
        step.state, step.started_at = StepState.RUNNING, timezone.now()
        step.idempotency_key = f"run{self.op.pk}-s{step.position}"
        self.save(step, "state", "started_at", "idempotency_key")
        log_step(self.op, f"{said(step)}: started.")

    def done(self, step: RunStep, message: str = "") -> None:
        step.state, step.finished_at, step.question = StepState.DONE, timezone.now(), ""
        self.save(step, "state", "finished_at", "question", "detail")
        log_step(self.op, message or f"{said(step)}: done.")

    def ask(self, step: RunStep, question: str) -> None:
        step.state, step.question = StepState.ASKING, question[:1000]
        self.save(step, "state", "question", "detail")
        raise AskPerson(question)

    def save(self, step: RunStep, *fields: str) -> None:
        self.r.heartbeat()  # only the worker holding the lease writes the run's steps
        RunStep.objects.filter(pk=step.pk).update(**{f: getattr(step, f) for f in fields})

    def progress(self) -> None:
        done = RunStep.objects.filter(run=self.run, state__in=(StepState.DONE, StepState.SKIPPED)).count()
        Operation.objects.filter(pk=self.op.pk).update(progress_done=done)

    # --- step types --------------------------------------------------------------------------
    def action(self, step: RunStep) -> None:
        spec, detail = step.spec, step.detail
        if "nodes" not in detail:
            detail["nodes"] = self.nodes(spec["target"], step)
            detail.setdefault("done_nodes", [])
            self.save(step, "detail")
        for node in detail["nodes"]:
            if node in detail["done_nodes"]:
                continue
            try:
                answer = self.executor.act(spec["action"], node, spec["params"], f"{step.idempotency_key}-{node}"[:80],
                                           timeout=spec["timeout_seconds"])  # fmt: skip
            except ExecutorError as exc:
                self.ask(step, f"{said(step)}: {exc}")
            detail["done_nodes"].append(node)
            detail.setdefault("answers", {})[node] = answer
            self.save(step, "detail")
            log_step(self.op, f"{said(step)}: {spec['action']} on {node} done.")
        self.done(step)

    def nodes(self, target: str, step: RunStep) -> list[str]:
        """The nodes an action acts on, from the executor's facts as they are when the step starts."""
        if target == Target.COMPONENT:
            return [self.op.component.slug]
        members = self.facts(step, f"{step.idempotency_key}-nodes")
        replicas = sorted(m.name for m in members if m.role == "replica")
        primary = [m.name for m in members if m.role == "primary"]
        chosen = {Target.REPLICAS: replicas, Target.PRIMARY: primary, Target.MEMBERS: replicas + primary}[target]
        if not chosen:
            self.ask(step, f"{said(step)}: the executor reports no {target} (members: "
                           f"{', '.join(f'{m.name} ({m.role})' for m in members) or 'none'}).")  # fmt: skip
        return chosen

    def gate(self, step: RunStep) -> None:
        spec, detail, now = step.spec, step.detail, time.time()
        deadline = detail.setdefault("deadline", now + spec["timeout_seconds"])
        looks = detail["looks"] = detail.get("looks", 0) + 1
        checks = conditions.evaluate(self, spec["conditions"], key=f"{step.idempotency_key}-look{looks}")
        detail["checks"], detail["looked_at"] = checks, timezone.now().isoformat()
        failing = [c for c in checks if not c["ok"]]
        if not failing:
            held_since = detail["held_since"] = detail.get("held_since") or now
            if now - held_since >= spec["hold_seconds"]:
                held = f"held for {spec['hold_seconds']:g} s" if spec["hold_seconds"] else "hold"
                return self.done(step, f"{said(step)}: conditions {held}.")
            wait = spec["hold_seconds"] - (now - held_since)
        else:
            detail["held_since"] = None
            if now >= deadline:
                self.ask(step, f"{said(step)}: did not hold within {spec['timeout_seconds']:g} s: "
                               + "; ".join(c["text"] for c in failing) + ". Retry, skip or abort.")  # fmt: skip
            wait = deadline - now
        step.state = StepState.WAITING
        self.save(step, "state", "detail")
        raise Snooze(min(settings.RUNBOOK_GATE_POLL_SECONDS, max(wait, 0.01)), f"{said(step)}: waiting")

    def approval(self, step: RunStep) -> None:
        who = self.op.requested_by.get_username() if self.op.requested_by else "the requester"
        self.ask(step, f"{said(step)}: waiting for an operator other than {who} to approve.")

    def manual(self, step: RunStep) -> None:
        self.ask(step, f"{said(step)}: a person does this and marks it done.")

    def notify(self, step: RunStep) -> None:
        from estate.notifications.services import absolute, notify

        text = step.spec.get("message") or step.name
        with transaction.atomic():
            notify(event="runbook_notice", key=f"run{self.op.pk}-step{step.position}",
                   subject=f"{self.occurrence.window.title}: {step.name}", text=text,
                   component_ids=self.component_ids(), link=absolute(self.occurrence_url()))  # fmt: skip
            self.done(step, f"{said(step)}: told the owners: {text}")

    # --- facts, versions and the occurrence --------------------------------------------------
    def facts(self, step: RunStep, key: str) -> list[Member]:
        """The members, or the step asks a person (retry, skip, abort) saying why the executor could not tell."""
        try:
            return self.executor.facts(self.op.component, key=key)
        except ExecutorError as exc:
            self.ask(step, f"{said(step)}: the executor could not list the cluster's members: {exc}")

    def record_versions(self, phase: str) -> None:
        try:
            members = self.executor.facts(self.op.component, key=f"run{self.op.pk}-facts-{phase}")
        except ExecutorError as exc:
            log_step(self.op, f"Engine versions {phase} not recorded: {exc}", level=StepLevel.WARNING)
            return
        versions = {m.name: m.engine_version for m in members}
        setattr(self.run, f"versions_{phase}", versions)
        RunbookRun.objects.filter(pk=self.run.pk).update(**{f"versions_{phase}": versions})
        log_step(self.op, f"Engine versions {phase}: " + (", ".join(f"{n} {v}" for n, v in versions.items()) or "none"))
        if phase == "after":
            self.update_inventory(versions)

    def update_inventory(self, versions: dict[str, str]) -> None:
        """Each member's new engine version on its component, through the inventory's own service."""
        from estate.inventory.ownership import field_owners
        from estate.inventory.services import component_update

        components = list(Component.objects.filter(pk__in=self.component_ids()))
        owners = field_owners([c.pk for c in components])
        for component in components:
            version = versions.get(component.name) or versions.get(component.slug)
            owner = owners.get(component.pk)
            if not version or version == component.engine_version:
                continue
            if owner and "engine_version" in owner.fields:
                # One owner per state: the source that discovered it records the new version at its next sync.
                log_step(self.op, f"{component}: engine version {version} is left to {owner.name} (its next sync).")
                continue
            try:
                component_update(component=component, data={"engine_version": version})
            except (ApplicationError, ValidationError, PermissionDenied) as exc:
                log_step(self.op, f"{component}: engine version {version} not recorded: {exc}", level=StepLevel.WARNING)

    def close_occurrence(self) -> None:
        from estate.patching.choices import OccurrenceStatus
        from estate.patching.services import occurrence_close

        self.occurrence.refresh_from_db()
        if self.occurrence.status != OccurrenceStatus.IN_PROGRESS:
            return
        occurrence_close(occurrence=self.occurrence, actor=self.op.requested_by,
                         notes=f"Runbook run #{self.op.pk} finished.",
                         engine_version_before=version_text(self.run.versions_before),
                         engine_version_after=version_text(self.run.versions_after))  # fmt: skip

    def component_ids(self) -> list[int]:
        """The window's components and the other members of their clusters: a window holds one member (members
        never share a window), and its run patches the whole cluster one node at a time."""
        return cluster_component_ids(self.occurrence.window)

    def occurrence_url(self) -> str:
        from django.urls import reverse

        return reverse("occurrence_detail", args=[self.occurrence.key])

    # --- stopping ----------------------------------------------------------------------------
    def pause(self, question: str) -> None:
        """Give the worker back and wait for a person: the step asking holds the question."""
        paused = Operation.objects.filter(pk=self.op.pk, claim_token=self.r.token).update(
            state=OperationState.PAUSED, result=self.op.result, lease_expires_at=None, claim_token="",
            updated_at=timezone.now(),
        )  # fmt: skip
        if not paused:
            raise LeaseLost
        log_step(self.op, f"Paused: {question}", level=StepLevel.WARNING)

    def aborted(self) -> None:
        done = RunStep.objects.filter(run=self.run, state=StepState.DONE).count()
        self.r.finish(OperationState.CANCELLED, level=StepLevel.WARNING,
                      message=f"Aborted after {done} step(s) done; the rest were not started.")  # fmt: skip


def said(step: RunStep) -> str:
    """How the log and the questions name a step: Step 3 “approve the switchover”."""
    return f"Step {step.position + 1} “{step.name}”"


def cluster_component_ids(window) -> list[int]:
    mine = Component.objects.filter(patch_windows=window)
    members = Component.objects.filter(cluster__isnull=False, cluster_id__in=mine.values("cluster_id"))
    return sorted(set(mine.values_list("pk", flat=True)) | set(members.values_list("pk", flat=True)))


def version_text(versions: dict[str, str]) -> str:
    """ "16.3" when every member runs it, else "db-1 16.4, db-2 16.3" (what the occurrence records)."""
    distinct = sorted(set(versions.values()) - {""})
    if len(distinct) == 1:
        return distinct[0]
    return ", ".join(f"{n} {v}" for n, v in sorted(versions.items()))[:50]
