from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from estate.core.models import TimeStampedModel
from estate.inventory.choices import (
    LIVE_INSTANCE_STATES,
    STATEFUL_CATEGORIES,
    Category,
    ClusterRole,
    Engine,
    Health,
    InstanceState,
    Mode,
    Provider,
)

STATEFUL_IMMUTABLE_MESSAGE = (
    "A component that holds state cannot be immutable: rebuilding it would throw its data away "
    "or take hours to re-replicate. Manage it as a bastion and patch it in maintenance windows."
)
STATEFUL_CATEGORY_MESSAGE = "A {category} holds state by definition; mark it as holding state."

# Fields that belong to one mode only; the other mode must leave them empty.
IMMUTABLE_ONLY_FIELDS = (
    "provider",
    "current_image",
    "desired_instances",
    "max_instance_age_days",
    "ssh_enabled",
    "config_management_enabled",
)
BASTION_ONLY_FIELDS = (
    "engine",
    "engine_version",
    "cluster",
    "role",
    "patch_cadence_days",
    "expected_failover_seconds",
)


class NamedModel(TimeStampedModel):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(NamedModel):
    """The people who own and answer for a set of components."""


class Environment(NamedModel):
    """Where components run: production, staging ..."""

    is_production = models.BooleanField(default=False)


class Tag(NamedModel):
    """A free label for filtering the inventory."""


class System(NamedModel):
    """A group of components that together deliver one product."""

    description = models.TextField(blank=True)
    owner = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="systems")

    def get_absolute_url(self) -> str:
        return reverse("component_list") + f"?system={self.slug}"

    def scope_targets(self, m2m=None) -> list:
        return [(self.owner_id, self.pk)]


class Cluster(NamedModel):
    """The bastion nodes that replicate one data set; never patched all at once."""

    engine = models.CharField(max_length=20, choices=Engine.choices)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="clusters")
    system = models.ForeignKey(
        System,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clusters",
    )

    def scope_targets(self, m2m=None) -> list | None:
        return [(None, self.system_id)] if self.system_id else None


class Component(TimeStampedModel):
    """A deployable part of the estate, managed either immutably or as a bastion."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="components")
    system = models.ForeignKey(
        System,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="components",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="components",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="components")
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")

    category = models.CharField(max_length=20, choices=Category.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    holds_state = models.BooleanField(default=False, help_text="Keeps data that outlives its instances.")
    local_state = models.CharField(
        max_length=300,
        blank=True,
        help_text="State kept on the instance itself (files in progress, local sessions, local queues).",
    )
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNKNOWN, db_index=True)
    health_reason = models.CharField(max_length=300, blank=True)
    health_changed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_period_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(7 * 86400)],
        help_text="How often instances report a heartbeat; empty means no telemetry is configured.",
    )

    # Immutable only
    provider = models.CharField(max_length=20, choices=Provider.choices, blank=True)
    current_image = models.ForeignKey("Image", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    desired_instances = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(10000)])
    max_instance_age_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    ssh_enabled = models.BooleanField(default=False, verbose_name="SSH enabled")
    config_management_enabled = models.BooleanField(default=False, help_text="Ansible, Chef, Puppet, Salt ...")

    # Bastion only
    engine = models.CharField(max_length=20, choices=Engine.choices, blank=True)
    engine_version = models.CharField(max_length=50, blank=True)
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    role = models.CharField(max_length=20, choices=ClusterRole.choices, blank=True)
    patch_cadence_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    expected_failover_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(86400)]
    )
    managed = models.BooleanField(
        default=False,
        help_text="The provider runs and patches it (DynamoDB ...): nothing for the team to patch.",
    )

    class Meta:
        ordering = ["name", "environment_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "slug"],
                name="component_slug_unique_per_environment",
                violation_error_message="A component with this slug already exists in this environment.",
            ),
            models.CheckConstraint(
                condition=Q(holds_state=False) | Q(mode=Mode.BASTION),
                name="stateful_component_is_bastion",
                violation_error_message=STATEFUL_IMMUTABLE_MESSAGE,
            ),
            models.CheckConstraint(
                condition=~Q(category__in=STATEFUL_CATEGORIES) | Q(holds_state=True),
                name="stateful_category_holds_state",
                violation_error_message="Databases, caches, queues and stores hold state.",
            ),
            models.CheckConstraint(
                condition=Q(mode=Mode.BASTION) | ~Q(provider=""),
                name="immutable_component_has_provider",
                violation_error_message="An immutable component needs a provider to rebuild and replace it.",
            ),
            models.CheckConstraint(
                condition=Q(mode=Mode.IMMUTABLE) | ~Q(engine=""),
                name="bastion_component_has_engine",
                violation_error_message="A bastion needs its engine.",
            ),
            models.CheckConstraint(
                condition=Q(managed=False) | Q(mode=Mode.BASTION, patch_cadence_days__isnull=True),
                name="managed_component_is_unpatched_bastion",
                violation_error_message="A managed component is a bastion its provider patches, with no cadence.",
            ),
            models.CheckConstraint(
                condition=Q(mode=Mode.IMMUTABLE)
                | Q(
                    provider="",
                    current_image__isnull=True,
                    desired_instances__isnull=True,
                    max_instance_age_days__isnull=True,
                    ssh_enabled=False,
                    config_management_enabled=False,
                ),
                name="immutable_only_fields_empty_on_bastion",
                violation_error_message="A bastion leaves the immutable-only fields empty.",
            ),
            models.CheckConstraint(
                condition=Q(mode=Mode.BASTION)
                | Q(
                    engine="",
                    engine_version="",
                    cluster__isnull=True,
                    role="",
                    patch_cadence_days__isnull=True,
                    expected_failover_seconds__isnull=True,
                ),
                name="bastion_only_fields_empty_on_immutable",
                violation_error_message="An immutable component leaves the bastion-only fields empty.",
            ),
        ]
        indexes = [
            models.Index(fields=["mode", "category"]),
            models.Index(fields=["environment", "system"]),
            # The default ordering: a list page walks this index instead of sorting the estate.
            models.Index(fields=["name", "environment"], name="component_ordering_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("component_detail", args=[self.pk])

    def scope_targets(self, m2m=None) -> list:
        """For access scoping (estate.access.scope): the team and system this belongs to."""
        return [(self.team_id, self.system_id)]

    @property
    def is_immutable(self) -> bool:
        return self.mode == Mode.IMMUTABLE

    def clean(self) -> None:
        """Report each rule of the constraints above on the field it concerns."""
        errors: dict[str, list[str]] = {}
        self._clean_slug(errors)
        if self.category in STATEFUL_CATEGORIES and not self.holds_state:
            errors["holds_state"] = [STATEFUL_CATEGORY_MESSAGE.format(category=self.get_category_display().lower())]
        if self.holds_state and self.mode == Mode.IMMUTABLE:
            errors["mode"] = [STATEFUL_IMMUTABLE_MESSAGE]
        if self.mode == Mode.IMMUTABLE:
            self._clean_mode_fields(
                errors,
                own=("provider",),
                foreign=BASTION_ONLY_FIELDS,
                other="an immutable",
            )
            self._clean_current_image(errors)
        elif self.mode == Mode.BASTION:
            self._clean_mode_fields(
                errors,
                own=("engine",),
                foreign=IMMUTABLE_ONLY_FIELDS,
                other="a bastion",
            )
            self._clean_cluster(errors)
        self._clean_managed(errors)
        if errors:
            raise ValidationError(errors)

    def _clean_slug(self, errors: dict) -> None:
        # The unique constraint spans two fields, so Django would report it on no field; say it on the slug.
        if self.environment_id and self.slug:
            taken = Component.objects.filter(environment_id=self.environment_id, slug=self.slug).exclude(pk=self.pk)
            if taken.exists():
                errors["slug"] = ["A component with this slug already exists in this environment."]

    def _clean_mode_fields(self, errors: dict, *, own: tuple, foreign: tuple, other: str) -> None:
        for name in own:
            if not getattr(self, name):
                errors.setdefault(name, []).append(f"Required for {other} component.")
        for name in foreign:
            value = getattr(self, self._meta.get_field(name).attname)
            # `is False`, not `in (..., False)`: 0 == False, and a 0 still breaks the constraint.
            if value is not None and value != "" and value is not False:
                regime = "a bastion" if other == "an immutable" else "an immutable"
                errors.setdefault(name, []).append(
                    f"Only {regime} component has this; leave it empty for {other} component."
                )

    def _clean_current_image(self, errors: dict) -> None:
        if self.current_image_id and self.current_image.component_id != self.pk:
            errors.setdefault("current_image", []).append("The current image must be one of this component's images.")

    def _clean_managed(self, errors: dict) -> None:
        if self.managed and self.mode != Mode.BASTION:
            errors.setdefault("managed", []).append("Only a bastion is managed by its provider.")
        if self.managed and self.patch_cadence_days is not None:
            errors.setdefault("patch_cadence_days", []).append(
                "A managed component is patched by its provider; leave its patch cadence empty."
            )

    def _clean_cluster(self, errors: dict) -> None:
        if self.cluster_id and self.environment_id and self.cluster.environment_id != self.environment_id:
            errors.setdefault("cluster", []).append(
                f"Cluster {self.cluster} lives in {self.cluster.environment}, not in this component's environment."
            )


class Image(TimeStampedModel):
    """A baked, versioned artifact an immutable component's instances are launched from."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="images")
    version = models.CharField(max_length=100)
    reference = models.CharField(max_length=300, help_text="AMI id, container digest ...")
    built_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-built_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "version"],
                name="image_version_unique_per_component",
                violation_error_message="This component already has an image with this version.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.component.name}:{self.version}"

    def scope_targets(self, m2m=None) -> list:
        return self.component.scope_targets()

    def clean(self) -> None:
        if self.component_id and self.component.mode != Mode.IMMUTABLE:
            raise ValidationError(
                {"component": "Only immutable components have images; a bastion is patched in a window."}
            )


class Instance(TimeStampedModel):
    """One running unit of a component: a VM, container, pod, function version, database node."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="instances")
    external_id = models.CharField(max_length=200, help_text="The id the provider knows it by.")
    image = models.ForeignKey(
        Image,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="instances",
    )
    state = models.CharField(max_length=20, choices=InstanceState.choices, default=InstanceState.RUNNING)
    address = models.CharField(max_length=200, blank=True)
    zone = models.CharField(max_length=100, blank=True)
    launched_at = models.DateTimeField(default=timezone.now)
    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNKNOWN)
    health_reason = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    tainted = models.BooleanField(default=False)
    taint_reason = models.CharField(max_length=300, blank=True)
    tainted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["component_id", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component", "external_id"],
                name="instance_external_id_unique_per_component",
                violation_error_message="This component already has an instance with this external id.",
            ),
            models.CheckConstraint(
                condition=Q(tainted=False) | ~Q(taint_reason=""),
                name="tainted_instance_has_reason",
                violation_error_message="A tainted instance records why.",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "launched_at"]),
            # Per-component counts of live (and of tainted live) instances read these small
            # partial indexes alone, without visiting the table.
            models.Index(
                fields=["component"],
                condition=Q(state__in=LIVE_INSTANCE_STATES),
                name="instance_live_component_idx",
            ),
            models.Index(
                fields=["component"],
                condition=Q(state__in=LIVE_INSTANCE_STATES, tainted=True),
                name="instance_live_tainted_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    def get_absolute_url(self) -> str:
        return reverse("component_detail", args=[self.component_id]) + f"#instance-{self.pk}"

    def scope_targets(self, m2m=None) -> list:
        return self.component.scope_targets()

    def clean(self) -> None:
        errors = {}
        if self.image_id and self.image.component_id != self.component_id:
            errors["image"] = "The image must be one of this instance's component's images."
        if self.tainted and not self.taint_reason:
            errors["taint_reason"] = "Say why the instance is tainted."
        if errors:
            raise ValidationError(errors)
