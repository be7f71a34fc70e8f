from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import available_timezones

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from estate.access import scope
from estate.core.forms import StyledFormMixin
from estate.inventory.choices import Mode
from estate.inventory.models import Component, Environment, System, Team
from estate.patching.choices import ChangeKind, FreezeScope, ImpactKind
from estate.patching.models import ChangeFreeze, PatchWindow
from estate.patching.recurrence import wall_clock

TIME_ZONES = sorted(available_timezones())


class _ComponentLabel:
    """Component names repeat across environments: say which one."""

    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.environment})"


class ComponentsField(_ComponentLabel, forms.ModelMultipleChoiceField):
    pass


class ComponentField(_ComponentLabel, forms.ModelChoiceField):
    pass


class WallClockField(forms.DateTimeField):
    """Django's, but a naive date-time stays naive (no reading in the server's zone): the form reads it in
    the window's zone once it knows which; one with an offset is kept as given."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:  # well formed but no such day (month 13)
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        return parsed or forms.BaseTemporalField.to_python(self, value)


class PatchWindowForm(StyledFormMixin, forms.Form):
    """A window as a person plans it: the start is wall-clock time in the window's own zone."""

    title = forms.CharField(max_length=200)
    components = ComponentsField(
        queryset=Component.objects.filter(mode=Mode.BASTION).select_related("environment").order_by("name"),
        help_text="Bastions only: an immutable component is rebuilt, not patched.",
        widget=forms.SelectMultiple(attrs={"size": 8, "data-searchable": "components"}),
    )
    start = WallClockField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="First occurrence, in the window's time zone.",
    )
    duration_minutes = forms.IntegerField(min_value=5, max_value=2 * 24 * 60, initial=60, label="Duration (minutes)")
    time_zone = forms.ChoiceField(choices=[(z, z) for z in TIME_ZONES], initial="UTC")
    rrule = forms.CharField(
        required=False,
        max_length=500,
        label="Recurrence (RRULE)",
        help_text="e.g. FREQ=WEEKLY;BYDAY=TU · FREQ=MONTHLY;BYDAY=2TU · add ;UNTIL=20271231T000000Z or ;COUNT=12. "
        "Empty for a one-off window.",
    )
    change_kind = forms.ChoiceField(choices=ChangeKind.choices)
    impact_kind = forms.ChoiceField(choices=ImpactKind.choices, label="Expected impact")
    impact_seconds = forms.IntegerField(required=False, min_value=0, label="Impact (seconds)")
    impact_notes = forms.CharField(required=False, max_length=300)
    runbook = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}), help_text="One step per line.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    @classmethod
    def initial_from(cls, window: PatchWindow) -> dict:
        return {
            "title": window.title,
            "components": list(window.components.all()),
            "start": timezone.localtime(window.start, window.tz).replace(tzinfo=None),
            "duration_minutes": int(window.duration.total_seconds() // 60),
            "time_zone": window.time_zone,
            "rrule": window.rrule,
            "change_kind": window.change_kind,
            "impact_kind": window.impact_kind,
            "impact_seconds": window.impact_seconds,
            "impact_notes": window.impact_notes,
            "runbook": "\n".join(window.runbook),
            "description": window.description,
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            # Offer only what this person may plan. The field still accepts any bastion, so that one sent
            # from outside the scope meets the save's scope guard, which refuses it with the reason (403).
            field = self.fields["components"]
            field.widget.choices = [(c.pk, field.label_from_instance(c)) for c in scope.within(user, field.queryset)]

    def clean(self):
        data = super().clean()
        start, zone = data.get("start"), data.get("time_zone")
        if start and zone:
            # The browser sends wall-clock time; it means that time in the window's zone.
            try:
                data["start"] = wall_clock(start, zone, "start")
            except ValidationError as exc:
                self.add_error(None, exc)
        return data

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["duration"] = timedelta(minutes=data.pop("duration_minutes"))
        data["runbook"] = [line.strip() for line in data["runbook"].splitlines() if line.strip()]
        data["rrule"] = data["rrule"].strip().removeprefix("RRULE:")
        return data


class CalendarFilterForm(StyledFormMixin, forms.Form):
    environment = forms.ModelChoiceField(
        Environment.objects.all(), required=False, to_field_name="slug", empty_label="Any"
    )
    system = forms.ModelChoiceField(System.objects.all(), required=False, to_field_name="slug", empty_label="Any")
    team = forms.ModelChoiceField(Team.objects.all(), required=False, to_field_name="slug", empty_label="Any")
    component = ComponentField(
        Component.objects.filter(mode=Mode.BASTION).select_related("environment").order_by("name"),
        required=False,
        empty_label="Any",
    )
    change_kind = forms.ChoiceField(choices=[("", "Any"), *ChangeKind.choices], required=False)


class ChangeFreezeForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = ChangeFreeze
        fields = ["name", "scope", "environment", "system", "start", "end", "reason"]
        widgets = {
            "start": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "end": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "reason": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {"start": "UTC", "end": "UTC"}


class FreezeImportForm(StyledFormMixin, forms.Form):
    file = forms.FileField(help_text="An .ics file; recurring events are expanded for the next two years.")
    scope = forms.ChoiceField(choices=FreezeScope.choices)
    environment = forms.ModelChoiceField(Environment.objects.all(), required=False)
    system = forms.ModelChoiceField(System.objects.all(), required=False)
