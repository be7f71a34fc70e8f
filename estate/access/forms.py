from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate.access import lockout
from estate.access.models import TokenScope
from estate.core.forms import StyledFormMixin


def duration_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def locked_error(seconds: int) -> ValidationError:
    return ValidationError(
        "Too many failed log-ins: this account is locked for %(wait)s. Wait, then try again.",
        code="locked",
        params={"wait": duration_text(seconds)},
    )


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing any password while the username or the client IP is locked."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = lockout.client_ip(self.request)
        if seconds := lockout.locked_seconds(username=username, ip=ip):
            # Refused before any password is checked; still a failed log-in for the audit trail.
            user_login_failed.send(sender=__name__, credentials={"username": username}, request=self.request)
            raise locked_error(seconds)
        try:
            cleaned = super().clean()
        except ValidationError:
            lockout.login_failed(username=username, ip=ip)
            if seconds := lockout.locked_seconds(username=username, ip=ip):
                raise locked_error(seconds) from None
            raise
        lockout.login_succeeded(username=username)
        return cleaned


LIFETIME_CHOICES = [(7, "7 days"), (30, "30 days"), (90, "90 days"), (180, "180 days"), (365, "1 year")]


class ApiTokenForm(StyledFormMixin, forms.Form):
    """A new personal token; the model's rules (expiry, unique name) are reported, not repeated."""

    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “deploy pipeline”.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ)
    lifetime = forms.TypedChoiceField(choices=LIFETIME_CHOICES, coerce=int, initial=90, label="Expires after")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        longest = settings.API_TOKEN_MAX_DAYS
        self.fields["lifetime"].choices = [(d, label) for d, label in LIFETIME_CHOICES if d <= longest]

    def expires_at(self):
        return timezone.now() + timedelta(days=self.cleaned_data["lifetime"])
