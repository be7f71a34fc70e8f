from __future__ import annotations

from django import forms

from estate.core.choices import Severity
from estate.core.fields import BIGINT_MAX
from estate.core.findings import finding_kinds
from estate.core.forms import StyledFormMixin


class FindingQuery(StyledFormMixin, forms.Form):
    """The findings filters, shared by the API and the findings page."""

    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    kind = forms.ChoiceField(required=False)
    component = forms.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)  # past it: a 400, not a 500

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Any kind")] + [(k.slug, k.title) for k in finding_kinds()]

    def registry_filters(self) -> dict:
        data = self.cleaned_data
        component = data.get("component")
        return {
            "severity": data.get("severity") or None,
            "kind": data.get("kind") or None,
            "component_ids": None if component is None else [component],
        }
