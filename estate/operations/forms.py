from __future__ import annotations

import re

from django import forms

from estate.inventory.choices import LIVE_INSTANCE_STATES
from estate.operations.choices import COMPONENT_KINDS, OperationKind

# "<PromQL> <= 0.05": the last <= or >= on the line, then a number, is the bound.
CONDITION = re.compile(r"^\s*(.+?)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
GATE_NUMBERS = (
    "min_healthy_percentage",
    "health_timeout_seconds",
    "warmup_seconds",
    "bake_seconds",
    "max_dependent_error_rate",
)


class OperationForm(forms.Form):
    """The parameters a person gives when starting an operation from a component's page."""

    kind = forms.ChoiceField(choices=COMPONENT_KINDS)
    # The bounds are checked once, by the service (estate.operations.params); the page shows its refusal.
    batch_size = forms.IntegerField(initial=1, required=False)
    min_healthy_percentage = forms.IntegerField(initial=100, required=False)
    health_timeout_seconds = forms.IntegerField(required=False)
    checkpoints = forms.CharField(required=False, help_text="Pause at these percentages, e.g. 25,50.")
    warmup_seconds = forms.FloatField(required=False)
    bake_seconds = forms.FloatField(required=False)
    max_dependent_error_rate = forms.FloatField(required=False)
    analysis_queries = forms.CharField(
        required=False, max_length=11000, help_text="One PromQL condition per line: <query> <= 0.05, or >= 0.9."
    )
    rollback = forms.BooleanField(required=False)
    instance_ids = forms.TypedMultipleChoiceField(coerce=int, required=False)
    reason = forms.CharField(max_length=500, required=False)
    forced = forms.BooleanField(required=False)
    force_reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, component=None, **kwargs):
        super().__init__(*args, **kwargs)
        if component is not None:
            live = component.instances.filter(state__in=LIVE_INSTANCE_STATES)
            self.fields["instance_ids"].choices = [(i.pk, i.external_id) for i in live]

    def clean_checkpoints(self) -> list[int]:
        raw = self.cleaned_data.get("checkpoints") or ""
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError("Whole percentages separated by commas, e.g. 25,50.") from None

    def clean_analysis_queries(self) -> list[dict]:
        """Lines of "<PromQL> <= bound" or ">= bound"; the service checks their number and length."""
        conditions = []
        for n, line in enumerate((self.cleaned_data.get("analysis_queries") or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = CONDITION.match(line)
            if match is None:
                raise forms.ValidationError(f"Line {n}: write <query> <= number or <query> >= number.")
            query, sign, bound = match.groups()
            conditions.append({"query": query, "max" if sign == "<=" else "min": float(bound)})
        return conditions

    def params(self) -> dict:
        data = self.cleaned_data
        if data["kind"] == OperationKind.REBUILD_IMAGE:
            return {}
        batch_size = data.get("batch_size")
        params = {"batch_size": 1 if batch_size is None else batch_size, "rollback": data.get("rollback", False)}
        for name in GATE_NUMBERS:
            if data.get(name) is not None:
                params[name] = data[name]
        if data.get("analysis_queries"):
            params["analysis_queries"] = data["analysis_queries"]
        if data.get("checkpoints"):
            params["checkpoints"] = data["checkpoints"]
        if data["kind"] == OperationKind.REPLACE_INSTANCES:
            params["instance_ids"] = data.get("instance_ids") or []
        return params


class ScaleForm(forms.Form):
    """A component's desired count from its page; the model's own validators bound it."""

    desired_instances = forms.IntegerField(min_value=0)
    roll = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=500, required=False)
