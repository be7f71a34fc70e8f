from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from estate.access import scope
from estate.core.errors import ApplicationError
from estate.core.forms import label_empty_choices, style_fields
from estate.core.paging import paginate
from estate.inventory.choices import LIVE_INSTANCE_STATES
from estate.inventory.models import Component
from estate.inventory.services import component_update
from estate.operations import selectors, services
from estate.operations.choices import ACTIVE_STATES, OperationKind
from estate.operations.filters import OperationFilterSet
from estate.operations.forms import OperationForm, ScaleForm
from estate.operations.models import Operation
from estate.operations.providers.signing import HEADER
from estate.operations.providers.webhook import record_callback

OPERATIONS_CRUMB = ("Operations", reverse_lazy("operation_list"))


@login_required
def operation_list(request):
    filterset = OperationFilterSet(request.GET or None, queryset=selectors.operation_list())
    style_fields(filterset.form)
    label_empty_choices(filterset.form)
    page = paginate(request, filterset.qs)
    context = {
        "filterset": filterset,
        "page": page,
        "live": any(op.state in ACTIVE_STATES for op in page),
        "crumbs": [("Operations", None)],
    }
    template = "operations/operation_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#rows"
    return render(request, template, context)


@login_required
def operation_detail(request, pk: int):
    operation = get_object_or_404(selectors.operation_list(), pk=pk)
    context = {
        "operation": operation,
        "steps": selectors.timed_steps(operation),
        "replacements": selectors.operation_replacements(operation),
        "crumbs": [OPERATIONS_CRUMB, (f"#{operation.pk}", None)],
    }
    template = "operations/operation_detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#live"
    return render(request, template, context)


@login_required
def component_operations(request, pk: int):
    """The component page's operations panel, re-rendered by HTMX while an operation runs."""
    component = get_object_or_404(Component, pk=pk)
    return render(
        request,
        "operations/component_panel.html#live",
        {"panel": selectors.component_panel(request, component)},
    )


@login_required
@permission_required("operations.add_operation", raise_exception=True)
@require_POST
def operation_create(request, pk: int):
    component = get_object_or_404(Component, pk=pk)
    scope.require(request.user, component)
    form = OperationForm(request.POST, component=component)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect(component)
    data = form.cleaned_data
    try:
        operation = services.operation_start(
            component=component,
            kind=data["kind"],
            params=form.params(),
            requested_by=request.user,
            reason=data.get("reason", ""),
            forced=data.get("forced", False),
            force_reason=data.get("force_reason", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(component)
    messages.success(request, f"{operation.get_kind_display()} queued.")
    return redirect(operation)


@login_required
@permission_required("inventory.change_component", raise_exception=True)
@require_POST
def component_scale(request, pk: int):
    """Set the desired count (a component change, audited like an edit), then roll to reach it if asked.

    A roll launches the missing instances before it replaces the others; it never terminates any,
    so lowering the count only records the new target."""
    component = get_object_or_404(Component, pk=pk)
    scope.require(request.user, component)
    form = ScaleForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect(component)
    desired, before = form.cleaned_data["desired_instances"], component.desired_instances
    try:
        component_update(component=component, data={"desired_instances": desired})
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect(component)
    live = component.instances.filter(state__in=LIVE_INSTANCE_STATES).count()
    was = "—" if before is None else before
    messages.success(request, f"Desired instances of {component.name}: {was} → {desired}.")
    if desired < live:
        extra = live - desired
        messages.info(request, f"{live} instances run and a roll takes none away: retire the extra {extra} yourself.")
    if not form.cleaned_data["roll"] or desired <= live:
        return redirect(component)
    return _roll_to_desired(request, component, desired, form.cleaned_data["reason"])


def _roll_to_desired(request, component: Component, desired: int, reason: str):
    if not request.user.has_perm("operations.add_operation"):
        messages.error(request, "You may change the desired count, not start a roll: ask an operator to roll.")
        return redirect(component)
    try:
        operation = services.operation_start(
            component=component,
            kind=OperationKind.ROLL_COMPONENT,
            params={},
            requested_by=request.user,
            reason=reason or f"Scale to {desired} instances",
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(component)
    messages.success(request, f"Roll queued to reach {desired} instances.")
    return redirect(operation)


@login_required
@permission_required("operations.add_operation", raise_exception=True)
@require_POST
def operation_cancel(request, pk: int):
    return _command(request, pk, services.operation_cancel, "Cancel requested.")


@login_required
@permission_required("operations.add_operation", raise_exception=True)
@require_POST
def operation_resume(request, pk: int):
    return _command(request, pk, services.operation_resume, "Resumed.")


def _command(request, pk: int, service, done: str):
    operation = get_object_or_404(Operation, pk=pk)
    try:
        service(operation=operation, user=request.user)
        messages.success(request, done)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(operation)


@csrf_exempt
@require_POST
def webhook_callback(request):
    """The CI/CD reports a step's outcome here, signed with the same secret Estate signs its requests with."""
    status, message = record_callback(request.body, request.headers.get(HEADER, ""))
    return JsonResponse({"detail": message}, status=status)
