from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from estate.core.models import TimeStampedModel
from estate.discovery.choices import ObjectKind, RunState, SourceKind
from estate.inventory.models import Component, Instance

# Credentials are named, never stored: the row holds the NAME of a variable of the server's
# environment, read at run time. Only ESTATE_* names, so a source cannot read PATH or DATABASE_URL.
ENV_NAME = re.compile(r"^ESTATE_[A-Z0-9_]{1,100}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+){1,4}$")
TAG_TARGETS = ("team", "system", "environment")
CREDENTIAL_FIELDS = ("access_key_id_env", "secret_access_key_env", "session_token_env")
KUBERNETES_ENV_FIELDS = ("token_env", "ca_bundle_env")
KUBERNETES_FIELDS = ("namespaces", *KUBERNETES_ENV_FIELDS, "insecure")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a DNS-1123 label, as Kubernetes requires
MAX_NAMESPACES = 100


class DiscoverySource(TimeStampedModel):
    """Somewhere Estate reads the estate from (an AWS account, a cluster), on a schedule."""

    name = models.SlugField(max_length=100, unique=True, help_text="Writes are recorded as discovery:<name>.")
    kind = models.CharField(max_length=20, choices=SourceKind.choices)
    enabled = models.BooleanField(default=True)
    regions = models.JSONField(default=list, blank=True, help_text='AWS regions, e.g. ["eu-west-1", "us-east-1"].')
    endpoint_url = models.URLField(blank=True, help_text="Another endpoint than AWS's (a test double, a proxy).")
    access_key_id_env = models.CharField(max_length=120, blank=True, help_text="Name of an ESTATE_* variable.")
    secret_access_key_env = models.CharField(max_length=120, blank=True, help_text="Name of an ESTATE_* variable.")
    session_token_env = models.CharField(max_length=120, blank=True, help_text="Name of an ESTATE_* variable.")
    namespaces = models.JSONField(
        default=list, blank=True, help_text='Kubernetes namespaces to read, e.g. ["shop", "data"]; none: all of them.'
    )
    token_env = models.CharField(
        max_length=120, blank=True, help_text="Kubernetes: name of an ESTATE_* variable holding the bearer token."
    )
    ca_bundle_env = models.CharField(
        max_length=120, blank=True, help_text="Kubernetes: name of an ESTATE_* variable holding the CA bundle's path."
    )
    insecure = models.BooleanField(
        default=False, help_text="Kubernetes: do not verify the API server's TLS certificate (a lab cluster only)."
    )
    tag_keys = models.JSONField(
        default=dict, blank=True, help_text='Which tag names the team, system and environment: {"team": "owner"}.'
    )
    default_environment = models.SlugField(
        max_length=100, default="production", help_text="The environment of what carries no environment tag."
    )
    interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_name(self) -> str:
        return f"discovery:{self.name}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        for name in CREDENTIAL_FIELDS + KUBERNETES_ENV_FIELDS:
            value = getattr(self, name)
            if value and not ENV_NAME.match(value):
                errors[name] = [f"“{value}” is not allowed: name an environment variable ESTATE_<NAME> (A-Z, 0-9, _)."]
        if self.kind == SourceKind.KUBERNETES:
            self._clean_kubernetes(errors)
        else:
            self._clean_regions(errors)
            self._refuse_set(errors, KUBERNETES_FIELDS, "Only a kubernetes source has this; leave it empty.")
        self._clean_tag_keys(errors)
        if errors:
            raise ValidationError(errors)

    def _refuse_set(self, errors: dict, names, reason: str) -> None:
        for name in names:
            if getattr(self, name) and name not in errors:
                errors[name] = [reason]

    def _clean_kubernetes(self, errors: dict) -> None:
        if not self.endpoint_url and "endpoint_url" not in errors:
            errors["endpoint_url"] = ["The API server's URL, e.g. https://k8s.example.com:6443."]
        if not self.token_env and "token_env" not in errors:
            errors["token_env"] = ["Name the ESTATE_* variable that holds the bearer token."]
        if self.insecure and self.ca_bundle_env:
            errors["insecure"] = ["Either verify the certificate with a CA bundle or do not verify it, not both."]
        self._refuse_set(errors, ("regions",), "A kubernetes source reads namespaces, not regions; leave it empty.")
        self._refuse_set(errors, CREDENTIAL_FIELDS, "Only an aws source has this; a kubernetes source uses token_env.")
        self._clean_namespaces(errors)

    def _clean_namespaces(self, errors: dict) -> None:
        names = self.namespaces
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            errors["namespaces"] = ['A list of namespace names, e.g. ["shop", "data"]; an empty list reads all.']
        elif len(names) > MAX_NAMESPACES:
            errors["namespaces"] = [f"At most {MAX_NAMESPACES} namespaces; an empty list reads all of them."]
        elif bad := [n for n in names if not NAMESPACE.match(n)]:
            errors["namespaces"] = [f"Not a namespace name (lower-case letters, digits, -): {', '.join(bad)[:200]}."]
        elif len(set(names)) != len(names):
            errors["namespaces"] = ["A namespace is listed twice."]

    def _clean_regions(self, errors: dict) -> None:
        regions = self.regions
        if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
            errors["regions"] = ["A list of one or more region names."]
        elif bad := [r for r in regions if not REGION.match(r)]:
            errors["regions"] = [f"Not a region name: {', '.join(bad)}."]
        elif len(set(regions)) != len(regions):
            errors["regions"] = ["A region is listed twice."]

    def _clean_tag_keys(self, errors: dict) -> None:
        keys = self.tag_keys
        if not isinstance(keys, dict):
            errors["tag_keys"] = ['An object such as {"team": "owner", "environment": "env"}.']
        elif unknown := sorted(set(keys) - set(TAG_TARGETS)):
            errors["tag_keys"] = [f"Unknown target {', '.join(unknown)}; the targets are {', '.join(TAG_TARGETS)}."]
        elif not all(isinstance(v, str) and 0 < len(v) <= 128 for v in keys.values()):
            errors["tag_keys"] = ["Each tag name is a non-empty string of at most 128 characters."]


class SyncRun(models.Model):
    """One sync of a source and its report. At most one per source runs at a time (a database rule)."""

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(DiscoverySource, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    account = models.CharField(max_length=50, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    gone = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True, help_text="Counts per kind of object.")
    region_errors = models.JSONField(default=dict, blank=True, help_text="{region: why it was not read}.")
    messages = models.JSONField(default=list, blank=True, help_text="What was refused, object by object.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(state=RunState.RUNNING),
                name="discovery_one_running_sync_per_source",
                violation_error_message="A sync of this source is already running.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} #{self.pk} {self.state}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class DiscoveredObject(models.Model):
    """Where a component or instance came from, when its source last saw it, and since when it is gone.

    Kept here rather than on the inventory's rows: inventory imports no higher app, and an
    instance's own last_seen_at is its telemetry heartbeat, not its presence at the source.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(DiscoverySource, on_delete=models.CASCADE, related_name="discovered")
    key = models.CharField(max_length=400, help_text="The source's own id (an ARN, region/id).")
    kind = models.CharField(max_length=20, choices=ObjectKind.choices)
    region = models.CharField(max_length=50, blank=True)
    account = models.CharField(max_length=50, blank=True)
    component = models.OneToOneField(
        Component, null=True, blank=True, on_delete=models.CASCADE, related_name="discovery"
    )
    instance = models.OneToOneField(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="discovery")
    details = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    gone_since = models.DateTimeField(null=True, blank=True, db_index=True)
    # A detached row is left alone by its source: the component is hand-managed again.
    detached_at = models.DateTimeField(null=True, blank=True)
    detached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["source_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="discovered_object_unique_key_per_source"),
            models.CheckConstraint(
                condition=Q(component__isnull=False, instance__isnull=True)
                | Q(component__isnull=True, instance__isnull=False),
                name="discovered_object_is_component_or_instance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.key}"
