from __future__ import annotations

import math

from django.contrib.auth.views import LoginView

from estate.access.forms import LockoutAuthenticationForm, duration_text
from estate.access.throttles import LoginRateThrottle


class EstateLoginView(LoginView):
    """Django's login view with a per-IP rate on attempts and the lockout form."""

    authentication_form = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        throttle = LoginRateThrottle()
        if throttle.allow_request(request, self):
            return super().post(request, *args, **kwargs)
        wait = max(1, math.ceil(throttle.wait() or 1))
        context = self.get_context_data(
            form=self.form_class(request),
            login_refused=f"Too many log-in attempts from your address. Wait {duration_text(wait)}, then try again.",
        )
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response
