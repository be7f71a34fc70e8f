from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from estate.access import services
from estate.access.forms import ApiTokenForm, LockoutAuthenticationForm, duration_text
from estate.access.models import ApiToken
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


CRUMBS = [("API tokens", None)]


@login_required
def token_list(request):
    """Your tokens; a new one's secret is shown on the page that creates it, and never again."""
    form = ApiTokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                field = "lifetime" if field == "expires_at" else field
                form.add_error(field if field in form.fields else None, errors)
        else:
            form = ApiTokenForm()
            messages.success(request, f"Token “{token.name}” created. Copy it now: it will not be shown again.")
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk")
    context = {"form": form, "tokens": tokens, "secret": secret, "crumbs": CRUMBS}
    return render(request, "access/token_list.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    services.token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked; it no longer opens anything.")
    return redirect("token_list")
