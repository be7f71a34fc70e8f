from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from estate.core.models import TimeStampedModel
from estate.inventory.models import Component, Environment, System
from estate.patching.choices import ChangeKind, DeadlineSource, FreezeScope, ImpactKind, OccurrenceStatus
from estate.patching.recurrence import check_moment, is_first_occurrence, validate_rrule

MIN_DURATION = timedelta(minutes=5)
MAX_DURATION = timedelta(days=2)


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"“{value}” is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)."
        ) from exc


class PatchWindow(TimeStampedModel):
    """A possibly recurring maintenance slot for bastion components.

    `start` is the first occurrence; recurrence keeps its wall-clock time in `time_zone`, so a
    02:00 Europe/Paris window stays at 02:00 local across daylight-saving changes.
    """

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    components = models.ManyToManyField(Component, related_name="patch_windows")
    start = models.DateTimeField(help_text="The first occurrence.")
    duration = models.DurationField(help_text="How long each occurrence lasts (HH:MM:SS).")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    rrule = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_rrule],
        verbose_name="recurrence",
        help_text="An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU or FREQ=MONTHLY;BYDAY=2TU;UNTIL=20271231T000000Z. "
        "Empty for a one-off window.",
    )
    series_end = models.DateTimeField(null=True, blank=True, editable=False, help_text="End of the last occurrence.")
    change_kind = models.CharField(max_length=20, choices=ChangeKind.choices, default=ChangeKind.OS_PATCH)
    impact_kind = models.CharField(max_length=20, choices=ImpactKind.choices, default=ImpactKind.FAILOVER_ERRORS)
    impact_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(7 * 86400)], help_text="Seconds of the expected impact."
    )
    impact_notes = models.CharField(max_length=300, blank=True)
    runbook = models.JSONField(default=list, blank=True, help_text="Ordered steps.")
    paused = models.BooleanField(default=False, help_text="Skip the series until resumed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["start", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration__gte=MIN_DURATION) & Q(duration__lte=MAX_DURATION),
                name="patch_window_duration_bounds",
                violation_error_message="A window lasts between 5 minutes and 2 days.",
            ),
        ]
        indexes = [models.Index(fields=["paused", "start", "series_end"])]

    def scope_targets(self, m2m=None) -> list | None:
        components = (m2m or {}).get("components")
        if components is None:
            components = self.components.all() if self.pk else []
        targets = [(c.team_id, c.system_id) for c in components]
        # A window over nothing belongs to no team: estate-wide, so a limited person may not touch it
        # (all() of no targets would otherwise let anyone pause or delete it).
        return targets or None

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("patch_window_edit", args=[self.pk])

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def clean(self) -> None:
        errors = {}
        if self.duration is not None and not (MIN_DURATION <= self.duration <= MAX_DURATION):
            errors["duration"] = ["A window lasts between 5 minutes and 2 days."]
        try:
            check_moment(self.start, "start")  # before any arithmetic on it: year 1 or 9999 overflows
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if isinstance(self.start, datetime) and self.start.microsecond:
            # A recurrence counts whole seconds (RFC 5545): "10:00:00.5" would be no occurrence of its own rule.
            self.start = self.start.replace(microsecond=0)
        if self.start and self.rrule and self.time_zone and not errors:
            self._clean_first_occurrence(errors)
        steps = self.runbook
        if not isinstance(steps, list) or not all(isinstance(s, str) and s.strip() for s in steps):
            errors["runbook"] = ["The runbook is a list of non-empty steps."]
        if errors:
            raise ValidationError(errors)

    def _clean_first_occurrence(self, errors: dict) -> None:
        try:
            validate_rrule(self.rrule)
            validate_time_zone(self.time_zone)
        except ValidationError:
            return  # reported on the field itself
        if not is_first_occurrence(start=self.start, time_zone=self.time_zone, rule=self.rrule):
            errors["start"] = [
                "The start must itself be an occurrence of the recurrence (e.g. a Tuesday for BYDAY=TU), "
                "as calendar clients count it as the first one."
            ]


class Occurrence(TimeStampedModel):
    """One concrete slot of a window, stored once something happens to it.

    Identity is (window, original_start): moving or skipping it records an exception and leaves
    the series as it is.
    """

    window = models.ForeignKey(PatchWindow, on_delete=models.CASCADE, related_name="occurrences")
    original_start = models.DateTimeField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    status = models.CharField(max_length=20, choices=OccurrenceStatus.choices, default=OccurrenceStatus.PLANNED)
    ran_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(blank=True)
    engine_version_before = models.CharField(max_length=50, blank=True)
    engine_version_after = models.CharField(max_length=50, blank=True)
    steps_done = models.JSONField(default=list, blank=True, help_text="Indexes of the runbook steps ticked off.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True, help_text="When it was flagged as not closed in time.")
    reminded_at = models.DateTimeField(null=True, blank=True)
    silence_ids = models.JSONField(default=list, blank=True)
    silenced_until = models.DateTimeField(
        null=True, blank=True, help_text="When the Alertmanager silence ends; extended while the occurrence overruns."
    )

    class Meta:
        ordering = ["start", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["window", "original_start"], name="occurrence_unique_per_window_start"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="occurrence_ends_after_start"),
        ]
        indexes = [models.Index(fields=["status", "start"]), models.Index(fields=["start", "end"])]

    def scope_targets(self, m2m=None) -> list:
        return self.window.scope_targets()

    def __str__(self) -> str:
        return f"{self.window.title} at {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def key(self) -> str:
        return occurrence_key(self.window_id, self.original_start)

    @property
    def moved(self) -> bool:
        return self.start != self.original_start


def occurrence_key(window_id: int, original_start) -> str:
    return f"{window_id}-{int(original_start.timestamp())}"


class Slot(models.Model):
    """A component taken down by an occurrence, for the next months: what the database guards.

    On PostgreSQL an exclusion constraint (btree_gist) forbids two slots of one component from
    overlapping, so two simultaneous requests cannot both plan the same database. Skipped and
    cancelled occurrences and paused windows hold no slot.
    """

    window = models.ForeignKey(PatchWindow, on_delete=models.CASCADE, related_name="slots")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="patch_slots")
    original_start = models.DateTimeField()
    start = models.DateTimeField()
    end = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["window", "component", "original_start"], name="slot_unique"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="slot_ends_after_start"),
        ]
        indexes = [models.Index(fields=["component", "start"]), models.Index(fields=["start"])]

    def __str__(self) -> str:
        return f"{self.window.title} on {self.start:%Y-%m-%d %H:%M} UTC"

    def get_absolute_url(self) -> str:
        return reverse("occurrence_detail", args=[occurrence_key(self.window_id, self.original_start)])


class ChangeFreeze(TimeStampedModel):
    """A named period in which no occurrence may fall: estate-wide, one environment or one system."""

    name = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    scope = models.CharField(max_length=20, choices=FreezeScope.choices, default=FreezeScope.ALL)
    environment = models.ForeignKey(Environment, null=True, blank=True, on_delete=models.CASCADE)
    system = models.ForeignKey(System, null=True, blank=True, on_delete=models.CASCADE)
    start = models.DateTimeField()
    end = models.DateTimeField()
    source_uid = models.CharField(max_length=300, blank=True, help_text="UID of the imported iCalendar event.")

    class Meta:
        ordering = ["start", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="freeze_ends_after_start"),
            models.CheckConstraint(
                condition=Q(scope=FreezeScope.ALL, environment__isnull=True, system__isnull=True)
                | Q(scope=FreezeScope.ENVIRONMENT, environment__isnull=False, system__isnull=True)
                | Q(scope=FreezeScope.SYSTEM, system__isnull=False, environment__isnull=True),
                name="freeze_scope_matches_target",
                violation_error_message="Pick the environment or the system the freeze applies to, and only that.",
            ),
        ]
        indexes = [models.Index(fields=["start", "end"])]

    def scope_targets(self, m2m=None) -> list | None:
        return [(None, self.system_id)] if self.system_id else None  # estate- or environment-wide

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        if self.scope == FreezeScope.ENVIRONMENT:
            return f"environment {self.environment}"
        if self.scope == FreezeScope.SYSTEM:
            return f"system {self.system}"
        return "all components"

    def clean(self) -> None:
        errors = {}
        if self.start and self.end and self.end <= self.start:
            errors["end"] = ["The freeze ends after it starts."]
        if self.scope == FreezeScope.ENVIRONMENT and not self.environment_id:
            errors["environment"] = ["Pick the environment this freeze applies to."]
        if self.scope == FreezeScope.SYSTEM and not self.system_id:
            errors["system"] = ["Pick the system this freeze applies to."]
        if errors:
            raise ValidationError(errors)


class FeedToken(models.Model):
    """An iCalendar feed: its filters, and the calendar-feed token whose secret is in its address.

    Calendar clients cannot log in, so the address is the credential: it is shown once, only its
    hash is kept (on the token), and revoking the token closes the feed.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patch_feed_tokens")
    name = models.CharField(max_length=100)
    api_token = models.OneToOneField("access.ApiToken", on_delete=models.CASCADE, related_name="feed")
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    def scope_owner_id(self) -> int:
        return self.user_id  # personal: decided by ownership (estate.access.scope)


class WindowDeletion(models.Model):
    """A tombstone, so a feed's Last-Modified moves forward when an event disappears."""

    window_id = models.BigIntegerField(db_index=True)
    deleted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"window {self.window_id} deleted"


class EngineEndOfLife(models.Model):
    """One row of the shipped end-of-life table (estate/patching/data/eol.yaml), loaded by `manage.py eol load`.

    `version` is what a component's engine version starts with: "12" matches 12.5 and 12.22, "7.0" matches
    7.0.15. `engine` is an inventory engine (MariaDB is recorded as MySQL by discovery, its versions differ).
    """

    engine = models.CharField(max_length=20)
    version = models.CharField(max_length=20)
    name = models.CharField(max_length=40, help_text="As the vendor names it: MariaDB, PostgreSQL.")
    end_of_life = models.DateField()
    source_url = models.URLField(max_length=300)

    class Meta:
        ordering = ["engine", "version"]
        constraints = [models.UniqueConstraint(fields=["engine", "version"], name="eol_unique_engine_version")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}: {self.end_of_life:%Y-%m-%d}"


class Deadline(TimeStampedModel):
    """A date by which a bastion must be patched, set by someone else: the vendor or the engine's end of life.

    Vendor rows are replaced set-wise by each discovery sync, end-of-life rows by `deadlines_refresh()`.
    The proposal (the first free slot before `due`) is stored so that pages read it without searching.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="deadlines")
    source = models.CharField(max_length=20, choices=DeadlineSource.choices)
    action = models.CharField(max_length=200, help_text="system-update, db-upgrade, a service update's name.")
    description = models.CharField(max_length=500, blank=True)
    auto_applied_after = models.DateTimeField(null=True, blank=True)
    forced_apply_date = models.DateTimeField(null=True, blank=True)
    opt_in_status = models.CharField(max_length=60, blank=True)
    first_seen = models.DateTimeField()
    due = models.DateTimeField(help_text="The earliest date the change happens without us (or support ends).")
    proposed_start = models.DateTimeField(null=True, blank=True)
    proposed_end = models.DateTimeField(null=True, blank=True)
    proposal_note = models.CharField(max_length=300, blank=True, help_text="Why there is no proposal.")
    window = models.ForeignKey(
        PatchWindow, null=True, blank=True, on_delete=models.SET_NULL, related_name="deadlines",
        help_text="The window made from the accepted proposal.",
    )  # fmt: skip

    class Meta:
        ordering = ["due", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["component", "source", "action"], name="deadline_unique_action"),
            models.CheckConstraint(
                condition=Q(proposed_end__gt=F("proposed_start")) | Q(proposed_start__isnull=True),
                name="deadline_proposal_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["due"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.component.name}"

    def get_absolute_url(self) -> str:
        return self.component.get_absolute_url() + "#deadlines"
