from __future__ import annotations

from django import forms

from estate.core.forms import StyledFormMixin
from estate.inventory.models import (
    BASTION_ONLY_FIELDS,
    IMMUTABLE_ONLY_FIELDS,
    Component,
    Image,
)
from estate.inventory.ownership import owner_of

GENERAL_FIELDS = (
    "name", "slug", "description", "environment", "system", "team", "tags", "category",
    "holds_state", "mode", "local_state", "heartbeat_period_seconds", "depends_on",
)  # fmt: skip


class ComponentForm(StyledFormMixin, forms.ModelForm):
    """Reports the model's rules next to each field; the model's clean() and constraints decide."""

    class Meta:
        model = Component
        fields = [*GENERAL_FIELDS, *IMMUTABLE_ONLY_FIELDS, *BASTION_ONLY_FIELDS]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "mode": forms.RadioSelect,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mode"].choices = [c for c in self.fields["mode"].choices if c[0]]
        self.fields["depends_on"].queryset = Component.objects.select_related("environment").order_by("name")
        self.fields["depends_on"].label_from_instance = lambda c: f"{c.name} ({c.environment})"
        self.fields["depends_on"].widget.attrs["size"] = 6
        if self.instance.pk:
            self.fields["current_image"].queryset = self.instance.images.all()
            self.fields["depends_on"].queryset = self.fields["depends_on"].queryset.exclude(pk=self.instance.pk)
        else:
            self.fields["current_image"].queryset = Image.objects.none()
        self._disable_managed_fields()

    def _disable_managed_fields(self) -> None:
        """A source's fields are shown, not edited: the service refuses them anyway (ownership.py)."""
        self.owner = owner_of(self.instance)
        for name in sorted(self.owner.fields & self.fields.keys()) if self.owner else ():
            self.fields[name].disabled = True
            self.fields[name].help_text = self.owner.refusal()
            self.fields[name].widget.attrs["data-managed"] = self.owner.name

    def edited_data(self) -> dict:
        """cleaned_data without the disabled fields, which only repeat the row as it was loaded."""
        return {name: value for name, value in self.cleaned_data.items() if not self.fields[name].disabled}

    def general_fields(self) -> list:
        return [self[name] for name in GENERAL_FIELDS]

    def immutable_fields(self) -> list:
        return [self[name] for name in IMMUTABLE_ONLY_FIELDS]

    def bastion_fields(self) -> list:
        return [self[name] for name in BASTION_ONLY_FIELDS]
