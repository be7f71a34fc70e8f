from __future__ import annotations

from django import forms

from estate.core.forms import StyledFormMixin
from estate.telemetry.models import LogRule


class LogRuleForm(StyledFormMixin, forms.ModelForm):
    """The pattern's rules are LogRule.clean's (the API's too): a ModelForm runs it and names the field."""

    class Meta:
        model = LogRule
        fields = ["name", "pattern", "kind", "enabled"]
        help_texts = {"enabled": "Off: matching lines are ignored."}
