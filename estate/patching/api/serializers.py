"""API shapes; the rules are the services'."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from estate.core.fields import ModelSerializer, SlugRelatedField
from estate.inventory.models import Component, Environment, System
from estate.patching.models import ChangeFreeze, Deadline, FeedToken, Occurrence, PatchWindow
from estate.patching.recurrence import wall_clock

START_HELP = (
    "The first occurrence. Without an offset (2027-01-05T02:00:00) it is wall-clock time in `time_zone`; "
    "with one (2027-01-05T07:00:00Z) it is that moment. A wall time the zone skips or repeats (daylight "
    "saving) is refused unless it carries an offset."
)

DEFAULT_ZONE = PatchWindow._meta.get_field("time_zone").default


class WallClockDateTimeField(serializers.DateTimeField):
    """DRF's, but a naive date-time stays naive: it means the window's zone, not the server's (UTC)."""

    def enforce_timezone(self, value):
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


def wall_clock_start(attrs: dict, window: PatchWindow | None) -> dict:
    """A naive start read in the window's zone: the one given, else the window's, else the default."""
    start = attrs.get("start")
    if start is not None and timezone.is_naive(start):
        zone = attrs.get("time_zone") or (window.time_zone if window else DEFAULT_ZONE)
        attrs["start"] = wall_clock(start, zone, "start")
    return attrs


class PatchWindowSerializer(ModelSerializer):
    components = serializers.PrimaryKeyRelatedField(queryset=Component.objects.all(), many=True)
    start = WallClockDateTimeField(help_text=START_HELP)
    runbook = serializers.ListField(child=serializers.CharField(max_length=500), required=False)
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = PatchWindow
        fields = [
            "id", "title", "description", "components", "start", "duration", "time_zone", "rrule", "series_end",
            "change_kind", "impact_kind", "impact_seconds", "impact_notes", "runbook", "paused", "warnings",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["paused", "series_end"]

    def get_warnings(self, obj) -> list[str]:
        return [c.as_dict()["message"] for c in getattr(obj, "warnings", [])]

    def validate(self, attrs):
        return wall_clock_start(super().validate(attrs), self.instance)


class PatchWindowDraftSerializer(PatchWindowSerializer):
    """A draft to check: every field optional, so a partial change of a window can be checked."""

    window = serializers.PrimaryKeyRelatedField(queryset=PatchWindow.objects.all(), required=False, allow_null=True)
    start = WallClockDateTimeField(help_text=START_HELP, required=False)

    class Meta(PatchWindowSerializer.Meta):
        fields = ["window", "components", "start", "duration", "time_zone", "rrule"]
        extra_kwargs = {name: {"required": False} for name in ["duration", "time_zone", "rrule"]}

    def validate(self, attrs):
        return wall_clock_start(attrs, attrs.get("window"))


class ConflictSerializer(serializers.Serializer):
    rule = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    at = serializers.DateTimeField()
    other_window = serializers.IntegerField(allow_null=True)
    freeze = serializers.IntegerField(allow_null=True)


class OccurrenceSerializer(serializers.Serializer):
    """An occurrence, stored or not yet: `key` (window-epoch) is its stable identity."""

    key = serializers.CharField()
    id = serializers.IntegerField(source="pk", allow_null=True)
    window = serializers.IntegerField(source="window.pk")
    title = serializers.CharField(source="window.title")
    change_kind = serializers.CharField(source="window.change_kind")
    original_start = serializers.DateTimeField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    status = serializers.CharField()
    moved = serializers.BooleanField()
    ran_by = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField()
    engine_version_before = serializers.SerializerMethodField()
    engine_version_after = serializers.SerializerMethodField()
    steps_done = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    def _row(self, obj):
        return obj if isinstance(obj, Occurrence) else obj.row

    def get_ran_by(self, obj) -> str | None:
        row = self._row(obj)
        return row.ran_by.get_username() if row and row.ran_by else None

    def get_notes(self, obj) -> str:
        row = self._row(obj)
        return row.notes if row else ""

    def get_engine_version_before(self, obj) -> str:
        row = self._row(obj)
        return row.engine_version_before if row else ""

    def get_engine_version_after(self, obj) -> str:
        row = self._row(obj)
        return row.engine_version_after if row else ""

    def get_steps_done(self, obj) -> list[int]:
        row = self._row(obj)
        return row.steps_done if row else []

    def get_overdue(self, obj) -> bool:
        row = self._row(obj)
        return bool(row and row.overdue_at)


class OccurrenceActionSerializer(serializers.Serializer):
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    engine_version_before = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    engine_version_after = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    steps_done = serializers.ListField(child=serializers.IntegerField(), required=False)
    failed = serializers.BooleanField(required=False, default=False)


class OccurrenceMoveSerializer(serializers.Serializer):
    start = WallClockDateTimeField(
        help_text="The new start. Without an offset it is wall-clock time in the window's time_zone."
    )


class ChangeFreezeSerializer(ModelSerializer):
    environment = SlugRelatedField(
        slug_field="slug", queryset=Environment.objects.all(), required=False, allow_null=True
    )
    system = SlugRelatedField(slug_field="slug", queryset=System.objects.all(), required=False, allow_null=True)

    class Meta:
        model = ChangeFreeze
        fields = ["id", "name", "reason", "scope", "environment", "system", "start", "end", "source_uid",
                  "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["source_uid"]


class FreezeImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    scope = serializers.CharField(required=False, default="all")
    environment = SlugRelatedField(
        slug_field="slug", queryset=Environment.objects.all(), required=False, allow_null=True
    )
    system = SlugRelatedField(slug_field="slug", queryset=System.objects.all(), required=False, allow_null=True)


class FeedTokenSerializer(ModelSerializer):
    prefix = serializers.CharField(source="api_token.prefix", read_only=True)
    status = serializers.CharField(source="api_token.status", read_only=True)
    expires_at = serializers.DateTimeField(source="api_token.expires_at", read_only=True)
    revoked_at = serializers.DateTimeField(source="api_token.revoked_at", read_only=True, allow_null=True)
    last_used_at = serializers.DateTimeField(source="api_token.last_used_at", read_only=True, allow_null=True)

    class Meta:
        model = FeedToken
        fields = ["id", "name", "filters", "prefix", "status", "created_at", "expires_at", "revoked_at", "last_used_at"]
        read_only_fields = ["created_at"]

    def validate_filters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError('Give an object of filters, e.g. {"environment": "production"}.')
        return value


class FeedTokenCreatedSerializer(FeedTokenSerializer):
    """The answer to a create: the only time the feed's address (its secret) is shown."""

    url = serializers.SerializerMethodField(help_text="The feed's address. Shown once: subscribe to it now.")

    class Meta(FeedTokenSerializer.Meta):
        fields = [*FeedTokenSerializer.Meta.fields, "url"]

    def get_url(self, obj) -> str:
        from django.urls import reverse

        path = reverse("patch_feed", args=[obj.secret])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class CalendarFreezeSerializer(ModelSerializer):
    """The freeze that closes the calendar, as the calendar state shows it."""

    environment = SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    system = SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = ChangeFreeze
        fields = ["id", "name", "reason", "scope", "environment", "system", "start", "end"]
        read_only_fields = fields


class CalendarStateSerializer(serializers.Serializer):
    """GET /api/v1/calendar/state/: may this component change at this moment (as AWS GetCalendarState)."""

    component = serializers.IntegerField(help_text="The component's id.")
    at = serializers.DateTimeField(help_text="The moment asked about (now unless ?at= was given).")
    state = serializers.ChoiceField(choices=["OPEN", "CLOSED"])
    reason = serializers.CharField(help_text="Why, in a sentence: the freeze and its end, or the next freeze.")
    freeze = CalendarFreezeSerializer(allow_null=True, help_text="The freeze that closes it; null when OPEN.")
    next_change = serializers.DateTimeField(
        allow_null=True,
        help_text="When the state flips next: when changes reopen (CLOSED), or when the next freeze starts (OPEN); "
        "null when no freeze lies ahead.",
    )


class ProposalSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    time_zone = serializers.CharField()


class DeadlineSerializer(serializers.ModelSerializer):
    """A deadline set by others and its proposal (the window accept would save; null when none was found)."""

    component_name = serializers.CharField(source="component.name", read_only=True)
    proposal = serializers.SerializerMethodField()

    class Meta:
        model = Deadline
        fields = [
            "id", "component", "component_name", "source", "action", "description", "due", "auto_applied_after",
            "forced_apply_date", "opt_in_status", "first_seen", "proposal", "proposal_note", "window",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(ProposalSerializer(allow_null=True))
    def get_proposal(self, deadline: Deadline) -> dict | None:
        if deadline.proposed_start is None or deadline.window_id:
            return None
        return {"start": deadline.proposed_start, "end": deadline.proposed_end, "time_zone": "UTC"}
