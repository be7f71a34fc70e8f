from __future__ import annotations

import hashlib
import re
import secrets

import regex
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from estate.inventory.choices import Category, Health
from estate.inventory.models import Component, Instance, System, Team
from estate.telemetry.choices import Aggregation, Comparison, HeartbeatState, MutationKind

TOKEN_PREFIX = "est_"  # noqa: S105 - a public marker, not a secret


class ComponentTelemetry(models.Model):
    """How a component is watched (grace, PromQL source) and what its heartbeat last said.

    The heartbeat period lives on the component (inventory); the grace, as in healthchecks.io,
    is how long after a missed period the heartbeat is only late before it counts as down.
    """

    component = models.OneToOneField(Component, on_delete=models.CASCADE, primary_key=True, related_name="telemetry")
    grace_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(7 * 86400)],
        help_text="How long a heartbeat may be late before the component is down; empty uses the default.",
    )
    promql = models.TextField(
        blank=True,
        verbose_name="PromQL",
        help_text="Take health from Prometheus instead: 1 (or more) healthy, between 0 and 1 degraded, 0 down, "
        'no result unknown. For example avg(up{job="api"}).',
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    heartbeat_state = models.CharField(
        max_length=20, choices=HeartbeatState.choices, default=HeartbeatState.NOT_CONFIGURED
    )
    promql_value = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "component telemetry"
        verbose_name_plural = "component telemetry"

    def __str__(self) -> str:
        return f"telemetry of {self.component_id}"

    @property
    def effective_grace_seconds(self) -> int:
        return self.grace_seconds if self.grace_seconds is not None else settings.TELEMETRY_DEFAULT_GRACE_SECONDS


class MetricRule(models.Model):
    """A threshold on an aggregate of one metric over a window.

    A rule belongs to one component, or (component empty) is the default for a category: a
    component is judged by its own rules and by the defaults of its category for every metric
    it has no rule of its own for.
    """

    component = models.ForeignKey(
        Component, null=True, blank=True, on_delete=models.CASCADE, related_name="metric_rules"
    )
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    metric = models.CharField(max_length=100)
    aggregation = models.CharField(max_length=10, choices=Aggregation.choices, default=Aggregation.AVG)
    window_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(60), MaxValueValidator(86400)]
    )
    comparison = models.CharField(max_length=10, choices=Comparison.choices, default=Comparison.ABOVE)
    warn = models.FloatField()
    critical = models.FloatField()
    unit = models.CharField(max_length=20, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "component_id", "metric"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(component__isnull=True) & ~Q(category="")) | (Q(component__isnull=False) & Q(category="")),
                name="metric_rule_component_or_category",
                violation_error_message="A rule belongs either to one component or to a category.",
            ),
            models.CheckConstraint(
                condition=(Q(comparison=Comparison.ABOVE) & Q(warn__lte=models.F("critical")))
                | (Q(comparison=Comparison.BELOW) & Q(warn__gte=models.F("critical"))),
                name="metric_rule_warn_before_critical",
                violation_error_message="The warning threshold must be reached before the critical one.",
            ),
            models.UniqueConstraint(
                fields=["component", "metric"],
                condition=Q(component__isnull=False),
                name="metric_rule_unique_per_component",
                violation_error_message="This component already has a rule for this metric.",
            ),
            models.UniqueConstraint(
                fields=["category", "metric"],
                condition=Q(component__isnull=True),
                name="metric_rule_unique_per_category",
                violation_error_message="This category already has a default rule for this metric.",
            ),
        ]

    def __str__(self) -> str:
        sign = ">" if self.comparison == Comparison.ABOVE else "<"
        return f"{self.aggregation}({self.metric}, {self.window_seconds}s) {sign} {self.warn} / {self.critical}"

    def scope_targets(self, m2m=None) -> list | None:
        return self.component.scope_targets() if self.component_id else None  # a default rule is estate-wide

    def clean(self) -> None:
        errors = {}
        if bool(self.component_id) == bool(self.category):
            errors["category"] = "Give a component or a category, not both."
        if self.warn is not None and self.critical is not None:
            if self.comparison == Comparison.ABOVE and self.warn > self.critical:
                errors["critical"] = "Above-thresholds need warn ≤ critical."
            if self.comparison == Comparison.BELOW and self.warn < self.critical:
                errors["critical"] = "Below-thresholds need warn ≥ critical."
        if errors:
            raise ValidationError(errors)


class Sample(models.Model):
    """One metric value. Written by COPY / bulk insert only; never saved one by one.

    On PostgreSQL a BRIN index on ts (migration 0002) keeps time-range scans cheap on an append-only
    table, and the table is partitioned by day (migration 0006, partitions.py; primary key (id, ts)),
    so the retention drops whole days instead of deleting rows. Deleting a component deletes its samples with one
    DELETE (nothing points at a sample, so Django does not load them); the instance is a plain
    id without a constraint, so the history outlives the instance and deleting one touches no sample.
    """

    id = models.BigAutoField(primary_key=True)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, db_index=False, related_name="+")
    instance = models.ForeignKey(
        Instance, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    name = models.CharField(max_length=100)
    value = models.FloatField()
    unit = models.CharField(max_length=20, blank=True)
    ts = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["component", "name", "ts"], name="sample_component_name_ts"),
            models.Index(fields=["name", "ts"], name="sample_name_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Event(models.Model):
    """Something that happened on a component or instance; mutation kinds taint immutable instances."""

    id = models.BigAutoField(primary_key=True)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, db_index=False, related_name="+")
    instance = models.ForeignKey(
        Instance, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    kind = models.CharField(max_length=50)
    message = models.CharField(max_length=500, blank=True)
    ts = models.DateTimeField()
    tainted = models.BooleanField(default=False, help_text="This event tainted its instance.")

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["component", "ts"], name="event_component_ts")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.ts:%Y-%m-%d %H:%M}"


class Rollup(models.Model):
    """Five minutes of one metric of one component: kept long after the raw samples are purged."""

    id = models.BigAutoField(primary_key=True)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, db_index=False, related_name="+")
    name = models.CharField(max_length=100)
    bucket = models.DateTimeField()
    min = models.FloatField()
    max = models.FloatField()
    avg = models.FloatField()
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["component", "name", "bucket"], name="rollup_unique_bucket"),
        ]
        indexes = [models.Index(fields=["bucket"], name="rollup_bucket")]

    def __str__(self) -> str:
        return f"{self.name} at {self.bucket:%Y-%m-%d %H:%M}"


class StaleRollup(models.Model):
    """A closed 5-minute bucket that received samples late: the rollup task aggregates it again.

    Written by the ingest (COPY) only for samples whose bucket had closed, read and deleted by the
    next rollup. No unique key on purpose: concurrent batches append without waiting on each other,
    and the rollup reads the distinct buckets.
    """

    id = models.BigAutoField(primary_key=True)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, db_index=False, related_name="+")
    name = models.CharField(max_length=100)
    bucket = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.bucket:%Y-%m-%d %H:%M}"


class PendingEvaluation(models.Model):
    """A component an ingest batch named since its health was last evaluated for it (reevaluation.py).

    Written when a batch commits (an INSERT that skips ids already here), taken whole by the next
    prompt evaluation. No foreign key: marking takes no lock on the component, and the id of a
    component deleted meanwhile is taken and evaluates nothing.
    """

    component_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"evaluate {self.component_id}"


class HealthChange(models.Model):
    """One flip of a component's or an instance's health: when, from, to and why."""

    id = models.BigAutoField(primary_key=True)
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="health_changes")
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    from_state = models.CharField(max_length=20, choices=Health.choices)
    to_state = models.CharField(max_length=20, choices=Health.choices)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["component", "-at"], name="healthchange_component_at")]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


MAPPED = ("component", "environment", "instance")
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")


def mapping_refusal(mapping) -> str:
    """Why an ingest token's mapping is refused ("" when it is fine): a few attribute or label names per key."""
    if not isinstance(mapping, dict):
        return 'The mapping is an object such as {"component": ["app"]}.'
    unknown = sorted(str(key)[:40] for key in mapping if key not in MAPPED)
    if unknown:
        return f"Unknown key(s) {', '.join(unknown)}; a mapping names {', '.join(MAPPED)}."
    for key, names in mapping.items():
        if not isinstance(names, list) or not 1 <= len(names) <= 5:
            return f"{key}: give a list of 1 to 5 attribute or label names, first found wins."
        bad = [str(n)[:40] for n in names if not isinstance(n, str) or not ATTRIBUTE_NAME.match(n)]
        if bad:
            return f"{key}: {bad[0]!r} is not an attribute or label name (letters, digits and _ . : / -; 100 at most)."
    return ""


class IngestToken(models.Model):
    """A credential that may write telemetry and nothing else. Only its SHA-256 is stored.

    Its scope says about which components it may write: those of its teams and systems, or, when
    `whole_estate` is set, every one. A token with neither writes nothing (an empty scope refuses
    everything, so deleting its last team never widens it); the estate-wide flag is never implied.
    """

    name = models.CharField(max_length=100, unique=True)
    whole_estate = models.BooleanField(
        default=False, help_text="May write telemetry about every component; otherwise only its teams' and systems'."
    )
    teams = models.ManyToManyField(
        Team, blank=True, related_name="+", help_text="It may write about these teams' components."
    )
    systems = models.ManyToManyField(
        System, blank=True, related_name="+", help_text="It may write about these systems' components."
    )
    mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which OTLP resource attributes or Prometheus labels name the component, environment and "
        'instance of what this token sends, e.g. {"component": ["app"], "instance": ["host.name"]}; '
        "a key left out keeps the default.",
    )
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def check_scope(*, whole_estate: bool, teams, systems) -> None:
        """The scope must be said: the whole estate, or some teams and systems (not both)."""
        if whole_estate and (teams or systems):
            raise ValidationError({"whole_estate": "Either the whole estate or some teams and systems, not both."})
        if not whole_estate and not (teams or systems):
            raise ValidationError(
                {"whole_estate": "Give the teams or systems the token may write about, or the whole estate."}
            )

    def clean(self) -> None:
        if message := mapping_refusal(self.mapping):
            raise ValidationError({"mapping": message})

    def set_new_secret(self) -> str:
        """Give the token a fresh secret and return it: the only time anyone sees it."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = raw[:12]
        self.token_hash = self.hash(raw)
        return raw


class IngestBatch(models.Model):
    """A stored batch's answer under its Idempotency-Key, so a retry stores nothing twice."""

    id = models.BigAutoField(primary_key=True)
    principal = models.CharField(max_length=120)
    key = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="ingest_batch_unique_key")]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"


LOG_RULE_PATTERN_MAX = 300
# A group that is itself repeated and holds a repetition, e.g. (a+)+ or (\w*x)*: the shape that
# backtracks catastrophically in Python's `re`, which has no timeout.
NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")


class LogRule(models.Model):
    """A log line pattern that means an instance was changed by hand (principle 1).

    Log records that match an enabled rule become events of its kind, the same events that
    taint immutable instances when they arrive as JSON. Patterns are bounded (length, no nested
    quantifiers, no back-references), and intake also searches with a timeout (intake/logs.py).
    """

    name = models.CharField(max_length=100, unique=True)
    pattern = models.CharField(
        max_length=LOG_RULE_PATTERN_MAX, help_text="A Python regular expression searched in each log line."
    )
    kind = models.CharField(max_length=50, choices=MutationKind.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problem = pattern_problem(self.pattern or "")
        if problem:
            raise ValidationError({"pattern": problem})


def pattern_problem(pattern: str) -> str:
    """Why a log rule's pattern is refused ("" when it is fine)."""
    if len(pattern) > LOG_RULE_PATTERN_MAX:
        return f"At most {LOG_RULE_PATTERN_MAX} characters."
    try:
        regex.compile(pattern)  # the module intake matches with (estate/telemetry/intake/logs.py)
    except (regex.error, OverflowError, RecursionError, ValueError) as error:
        return f"Not a regular expression: {error}."
    if NESTED_QUANTIFIER.search(pattern):
        return "A repeated group that holds a repetition (such as (a+)+) can take forever; rewrite it."
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        return "Back-references are not allowed."
    return ""
