from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from estate.access import scope
from estate.core.services import validated_delete, validated_save
from estate.inventory.models import Component
from estate.telemetry.forms import LogRuleForm
from estate.telemetry.models import LogRule
from estate.telemetry.selectors import health_counts, health_panel_context


@login_required
def component_health(request, pk: int):
    """The component page's health panel alone, for HTMX to refresh every 30 seconds."""
    component = get_object_or_404(Component.objects.select_related("environment"), pk=pk)
    return render(request, "telemetry/health_panel.html#health", {"panel": health_panel_context(request, component)})


@login_required
def health_tiles(request):
    """The dashboard's health tiles alone, for HTMX to refresh."""
    return render(request, "telemetry/health_tiles.html", {"health_tiles": health_counts()})


# --- log rules: viewers read, admins change ----------------------------------------------------

LOG_RULES_CRUMB = ("Log rules", reverse_lazy("log_rule_list"))


def _may_change_log_rules(request) -> bool:
    user = request.user
    return all(user.has_perm(f"telemetry.{p}_logrule") for p in ("add", "change", "delete"))


def _require_change(request, rule: LogRule | None = None) -> None:
    """The role, then the scope (a log rule is estate-wide: a person limited to some teams may not change one),
    asked before the form is read, so a refused person learns why and not what the form lacks."""
    if not _may_change_log_rules(request):
        raise PermissionDenied("Changing log rules is part of the admin role.")
    scope.require(request.user, rule or LogRule())


@login_required
@permission_required("telemetry.view_logrule", raise_exception=True)
def log_rule_list(request):
    posted = request.method == "POST"
    if posted:
        _require_change(request)
    form = None
    if _may_change_log_rules(request):
        form = LogRuleForm(request.POST if posted else None, initial={"enabled": True})
    if posted and form.is_valid():
        validated_save(form.instance)
        messages.success(request, f"Log rule “{form.instance.name}” added.")
        return redirect("log_rule_list")
    context = {"rules": LogRule.objects.all(), "form": form, "can_change": form is not None,
               "crumbs": [("Log rules", None)]}  # fmt: skip
    return render(request, "telemetry/logrule_list.html", context, status=400 if form and form.errors else 200)


@login_required
@permission_required("telemetry.view_logrule", raise_exception=True)
def log_rule_edit(request, pk: int):
    rule = get_object_or_404(LogRule, pk=pk)
    if request.method == "POST":
        _require_change(request, rule)
    form = LogRuleForm(request.POST if request.method == "POST" else None, instance=rule)
    if request.method == "POST" and form.is_valid():
        validated_save(form.instance)
        messages.success(request, f"Log rule “{rule.name}” saved.")
        return redirect("log_rule_list")
    context = {"rule": rule, "form": form, "can_change": _may_change_log_rules(request),
               "crumbs": [LOG_RULES_CRUMB, (rule.name, None)]}  # fmt: skip
    return render(request, "telemetry/logrule_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def log_rule_toggle(request, pk: int):
    rule = get_object_or_404(LogRule, pk=pk)
    _require_change(request, rule)
    rule.enabled = not rule.enabled
    validated_save(rule)
    messages.success(request, f"Log rule “{rule.name}” {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("log_rule_list")


@login_required
@require_POST
def log_rule_delete(request, pk: int):
    rule = get_object_or_404(LogRule, pk=pk)
    _require_change(request, rule)
    validated_delete(rule)
    messages.success(request, f"Log rule “{rule.name}” deleted.")
    return redirect("log_rule_list")
