from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from estate.core.models import TimeStampedModel
from estate.inventory.models import Team
from estate.operations.models import Operation
from estate.patching.models import Occurrence, PatchWindow
from estate.runbooks import steps as step_schema
from estate.runbooks.choices import StepState, StepType


class RunbookTemplate(TimeStampedModel):
    """An ordered list of typed steps and the executor its actions go through.

    Checked here, whoever saves it (form, API, admin): every step well formed, and every action one
    the executor can do, so a run never discovers half-way that a step cannot be done.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    executor = models.CharField(max_length=30, help_text="command, webhook (see docs/runbooks.md).")
    steps = models.JSONField(default=list, help_text="Ordered steps: action, gate, approval, manual, notify.")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: estate-wide."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def scope_targets(self, m2m=None) -> list | None:
        return [(self.team_id, None)] if self.team_id else None

    def clean(self) -> None:
        from estate.runbooks.executors import actions_of, executor_names

        if self.executor not in executor_names():
            raise ValidationError({"executor": [f"One of: {', '.join(executor_names())}; got {self.executor!r}."]})
        try:
            self.steps = step_schema.normalise(self.steps)
        except step_schema.StepError as exc:
            raise ValidationError({"steps": [str(exc)]}) from None
        if not self.steps:
            raise ValidationError({"steps": ["A runbook has at least one step."]})
        refusals = step_schema.unknown_actions(self.steps, actions_of(self.executor), self.executor)
        if refusals:
            raise ValidationError({"steps": refusals})


class WindowRunbook(TimeStampedModel):
    """The runbook a window's occurrences run unless one is chosen for the run."""

    window = models.OneToOneField(PatchWindow, on_delete=models.CASCADE, related_name="runbook_template")
    template = models.ForeignKey(RunbookTemplate, on_delete=models.PROTECT, related_name="windows")

    def scope_targets(self, m2m=None) -> list | None:
        return self.window.scope_targets()

    def __str__(self) -> str:
        return f"{self.template} for {self.window}"


class RunbookRun(TimeStampedModel):
    """A run of a runbook for one occurrence: the operation (the engine's row) and its steps, as they were
    when it started (a later edit of the template changes no run)."""

    operation = models.OneToOneField(Operation, on_delete=models.CASCADE, related_name="runbook_run")
    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="runbook_runs")
    template = models.ForeignKey(RunbookTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    executor = models.CharField(max_length=30, blank=True)
    versions_before = models.JSONField(default=dict, blank=True)
    versions_after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def scope_targets(self, m2m=None) -> list | None:
        return self.occurrence.scope_targets()

    def __str__(self) -> str:
        return f"Run #{self.operation_id} of {self.occurrence}"


class RunStep(models.Model):
    """One step of a run: its state, who decided it, and what it measured or got back.

    An action's idempotency_key is written (committed) before the executor is asked, so a worker that
    resumes the step asks with the same key and the executor does it at most once.
    """

    run = models.ForeignKey(RunbookRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    type = models.CharField(max_length=20, choices=StepType.choices)
    name = models.CharField(max_length=200)
    spec = models.JSONField(default=dict)
    state = models.CharField(max_length=20, choices=StepState.choices, default=StepState.PENDING)
    question = models.CharField(max_length=1000, blank=True, help_text="Why the run asks a person, while it asks.")
    idempotency_key = models.CharField(max_length=80, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="run_step_once"),
            models.CheckConstraint(
                condition=~Q(state=StepState.ASKING) | ~Q(question=""),
                name="asking_step_says_why",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.name}"

    def scope_targets(self, m2m=None) -> list | None:
        return self.run.scope_targets()

    @property
    def finished(self) -> bool:
        return self.state in (StepState.DONE, StepState.SKIPPED)
