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
