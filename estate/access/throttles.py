"""Request rates: one throttle for the whole API, with its own budget for telemetry ingest."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

# Router basenames whose views take agents' telemetry: they get API_THROTTLE_RATE_INGEST.
INGEST_BASENAMES = frozenset({"telemetry"})


class SettingsRateThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle whose rate is read from Django settings on every request.

    DRF binds THROTTLE_RATES when the module is imported; reading settings late lets
    override_settings (and a changed environment on restart) take effect.
    """

    rate_setting = ""

    def __init__(self):  # the rate depends on the request, so it is parsed in allow_request
        pass

    def rate_for(self, request, view) -> str:
        return getattr(settings, self.rate_setting, "")

    def allow_request(self, request, view) -> bool:
        self.rate = self.rate_for(request, view) or None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class ApiRateThrottle(SettingsRateThrottle):
    """Per user, per token for ingest tokens (no user), else per client IP."""

    def _scope(self, request, view) -> str:
        if getattr(view, "basename", None) in INGEST_BASENAMES:
            return "ingest"
        return "user" if request.user and request.user.is_authenticated else "anon"

    def rate_for(self, request, view) -> str:
        self.scope = self._scope(request, view)
        return getattr(settings, f"API_THROTTLE_RATE_{self.scope.upper()}", "")

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        elif getattr(request.auth, "pk", None) is not None:
            ident = f"{type(request.auth).__name__}:{request.auth.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class LoginRateThrottle(SettingsRateThrottle):
    """Login attempts per client IP, whatever the username."""

    scope = "login"
    rate_setting = "LOGIN_THROTTLE_RATE"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
