from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from estate.core import outbound
from estate.core.models import TimeStampedModel
from estate.inventory.models import Component, Image, Instance
from estate.operations.choices import (
    ACTIVE_STATES,
    FINISHED_STATES,
    OperationKind,
    OperationState,
    ReplacementState,
    StepLevel,
)

FORCE_REASON_MESSAGE = "A forced operation records why it was forced."


class Operation(TimeStampedModel):
    """A job on one component: a database row first, a Celery message (its id only) second.

    The row is the truth. A worker claims it with a conditional UPDATE and holds a lease it
    renews at every step; a sweep re-dispatches rows whose message never arrived or whose
    worker's lease ran out, and the steps are recorded so that a second worker resumes where
    the first stopped instead of starting over.
    """

    kind = models.CharField(max_length=30, choices=OperationKind.choices)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="operations")
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    policy = models.CharField(max_length=40, blank=True, help_text="The policy that started it, if any.")
    reason = models.CharField(max_length=500, blank=True)
    forced = models.BooleanField(default=False)
    force_reason = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=20, choices=OperationState.choices, default=OperationState.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # Lease of the worker that runs it; a dead worker's lease runs out and the sweep hands it on.
    claim_token = models.CharField(max_length=40, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    checkpoints_passed = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component"],
                condition=Q(state__in=ACTIVE_STATES),
                name="one_active_operation_per_component",
                violation_error_message="This component already has an operation in progress.",
            ),
            models.CheckConstraint(
                condition=Q(forced=False) | ~Q(force_reason=""),
                name="forced_operation_has_reason",
                violation_error_message=FORCE_REASON_MESSAGE,
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")),
                name="operation_progress_within_total",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "lease_expires_at"], name="operation_state_lease_idx"),
            models.Index(fields=["component", "-created_at"], name="operation_component_recent_idx"),
        ]

    def scope_targets(self, m2m=None) -> list:
        return self.component.scope_targets()

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} of {self.component}"

    def get_absolute_url(self) -> str:
        return reverse("operation_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.state == OperationState.SUCCEEDED else 0
        return round(100 * self.progress_done / self.progress_total)


class OperationStep(models.Model):
    """One line of an operation's log, in the order it happened."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=10, choices=StepLevel.choices, default=StepLevel.INFO)
    batch = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=1000)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message


class Replacement(models.Model):
    """One instance an operation replaces: the record that makes a redelivery never replace it twice."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="replacements")
    # None: a launch that brings the component up to its desired count, with nothing to take away.
    old_instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    new_instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    batch = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=ReplacementState.choices, default=ReplacementState.PENDING)
    # A roll-back's replacement: puts an instance of the failed roll back on the previous image.
    rollback = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "old_instance"], name="replacement_once_per_operation"),
            models.UniqueConstraint(
                fields=["new_instance"], condition=Q(new_instance__isnull=False), name="replacement_new_instance_once"
            ),
        ]

    def __str__(self) -> str:
        if self.old_instance_id is None:
            return f"launch of a missing instance ({self.state})"
        return f"replacement of instance {self.old_instance_id} ({self.state})"


def policy_bounds() -> dict[str, tuple[int, int]]:
    """{field: (lowest, highest)} of a remediation policy's numbers; read at validation time (settings)."""
    return {
        "replace_unhealthy_after_minutes": (1, 7 * 24 * 60),
        "rebuild_every_days": (1, 365),
        "batch_size": (1, settings.OPERATIONS_MAX_INSTANCES),
        "budget_per_hour": (0, 1000),
        "breaker_threshold": (1, 100),
        "rebuild_failure_limit": (1, 100),
    }


class RemediationPolicy(TimeStampedModel):
    """What Estate does on its own for one immutable component; every switch is off by default."""

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="remediation_policy")
    replace_tainted = models.BooleanField(default=False)
    replace_unhealthy_after_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: never."
    )
    roll_older_than_max_age = models.BooleanField(default=False)
    roll_on_new_image = models.BooleanField(default=False)
    rebuild_every_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: never."
    )
    batch_size = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    budget_per_hour = models.PositiveIntegerField(
        default=3, validators=[MaxValueValidator(1000)], help_text="At most this many replacements an hour."
    )
    breaker_threshold = models.PositiveIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Open the circuit after this many remediations in a row that did not bring it back.",
    )
    failed_remediations = models.PositiveIntegerField(default=0)
    breaker_open_since = models.DateTimeField(null=True, blank=True)
    breaker_reason = models.CharField(max_length=500, blank=True)
    rebuild_failure_limit = models.PositiveIntegerField(default=3, validators=[MinValueValidator(1)])
    rebuild_failures = models.PositiveIntegerField(default=0)
    rebuild_disabled_reason = models.CharField(max_length=500, blank=True)
    last_rebuild_at = models.DateTimeField(null=True, blank=True)
    rolled_image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name_plural = "remediation policies"

    def clean(self) -> None:
        """Every number within its bound: a policy past them would fail each time beat runs it."""
        errors = {}
        for name, (low, high) in policy_bounds().items():
            value = getattr(self, name)
            if value is not None and not low <= value <= high:
                errors[name] = f"{name} must be between {low} and {high}; got {value}."
        if errors:
            raise ValidationError(errors)

    def scope_targets(self, m2m=None) -> list:
        return self.component.scope_targets()

    def __str__(self) -> str:
        return f"Policy of {self.component}"


class ProviderConfig(TimeStampedModel):
    """How Estate reaches a component's provider. Secrets are never stored: only the name of the
    environment variable that holds one (secret_env), read by the worker when it calls out."""

    component = models.OneToOneField(Component, on_delete=models.CASCADE, related_name="provider_config")
    simulated = models.BooleanField(
        default=False,
        help_text="Drive this component with the sandbox simulation instead of its real provider (demo estates).",
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="webhook: url; aws: region, auto_scaling_group, image_pipeline_arn or instance_id; "
        "kubernetes: host, namespace, deployment, container.",
    )
    secret_env = models.CharField(
        max_length=100,
        blank=True,
        # Only ESTATE_* variables: the worker's own secrets (SECRET_KEY, DATABASE_URL, cloud keys)
        # must never become a provider's signing key or bearer token.
        validators=[RegexValidator(r"^ESTATE_[A-Z0-9_]+$", "A variable named ESTATE_..., e.g. ESTATE_WEBHOOK_SECRET.")],
        help_text="Name of the environment variable holding the secret (webhook key, API token).",
    )

    def scope_targets(self, m2m=None) -> list:
        return self.component.scope_targets()

    def __str__(self) -> str:
        return f"Provider config of {self.component}"

    def clean(self) -> None:
        """Addresses Estate would call and the secret it would send are checked before they are stored
        (and again at every call: the address may resolve elsewhere by then, the binding may be gone)."""
        errors: dict[str, list[str]] = {}
        if not isinstance(self.settings, dict):
            errors["settings"] = ['An object of settings, e.g. {"url": "https://ci.example.com/hook"}.']
        else:
            errors |= provider_settings_errors(self.settings)
        if self.secret_env and self.component_id and SECRET_ENV.match(self.secret_env):
            from estate.operations.providers.signing import secret_refusal

            refusal = secret_refusal(self.secret_env, self.component)
            if refusal:
                errors["secret_env"] = [refusal]
        if errors:
            raise ValidationError(errors)


SECRET_ENV = re.compile(r"^ESTATE_[A-Z0-9_]+$")
# Settings that name an address Estate calls: checked against estate.core.outbound's allowlist.
ADDRESS_KEYS = re.compile(r"^(url|host|endpoint|.+_url|.+_endpoint)$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def provider_settings_errors(values: dict) -> dict[str, list[str]]:
    """{"settings.<key>": [reason]} for every address a provider would call that it may not,
    and for an aws region that is not one (boto3 builds its endpoint's host name from it)."""
    errors = {}
    for key, value in values.items():
        if ADDRESS_KEYS.match(str(key)):
            reason = outbound.url_refusal(value)
            if reason:
                errors[f"settings.{key}"] = [reason]
    region = values.get("region")
    if region and not (isinstance(region, str) and AWS_REGION.match(region)):
        errors["settings.region"] = [f"{region!r} is not an AWS region name, e.g. eu-west-1."]
    return errors


class WebhookCall(models.Model):
    """One signed request to a team's CI/CD and the callback that answers it.

    request_id is derived from the operation and the step, so a redelivered job finds the call it
    already made (and its answer) instead of asking the CI/CD twice.
    """

    class Status(models.TextChoices):
        SENT = "sent", "Sent, waiting for the callback"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    request_id = models.CharField(max_length=100, unique=True)
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="webhook_calls")
    action = models.CharField(max_length=30)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SENT)
    request = models.JSONField(default=dict)
    response = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.request_id
