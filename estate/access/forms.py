from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from estate.access import lockout


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
