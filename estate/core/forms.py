from __future__ import annotations

from django import forms


def style_fields(form: forms.BaseForm) -> None:
    """Give every widget the UI kit's class, so templates render fields one way."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(
            widget,
            (forms.CheckboxInput, forms.RadioSelect, forms.CheckboxSelectMultiple),
        ):
            css = "form-check-input"
        elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def label_empty_choices(form: forms.BaseForm, label: str = "Any") -> None:
    """Filter selects say what their empty choice means instead of "---------" or "Unknown"."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.NullBooleanSelect):
            widget.choices = [("unknown", label), ("true", "Yes"), ("false", "No")]
        elif isinstance(widget, forms.Select) and getattr(field, "empty_label", None) is not None:
            field.empty_label = label
            # The widget holds a copy of the class-level field's choices; point it at this field's.
            widget.choices = field.choices


class StyledFormMixin:
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_fields(self)

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] += " is-invalid"
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"id_{name}_error"
