from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError, RestrictedError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from estate.access import scope
from estate.core.errors import ApplicationError, in_use_message
from estate.core.findings import finding_list, findings_per_component
from estate.core.forms import label_empty_choices, style_fields
from estate.core.paging import KeysFirst, paginate
from estate.core.panels import render_panels
from estate.core.services import validated_delete
from estate.inventory import selectors, services
from estate.inventory.filters import ComponentFilterSet
from estate.inventory.forms import ComponentForm
from estate.inventory.models import Component

INVENTORY_CRUMB = ("Inventory", reverse_lazy("component_list"))


@login_required
@vary_on_headers("HX-Request")
def component_list(request):
    filterset = ComponentFilterSet(request.GET or None, queryset=selectors.component_list())
    style_fields(filterset.form)
    label_empty_choices(filterset.form)
    page = paginate(request, KeysFirst(filterset.qs))
    finding_counts = findings_per_component(c.pk for c in page)
    for component in page:
        component.finding_count = finding_counts[component.pk]
    context = {
        "filterset": filterset,
        "page": page,
        "total": page.paginator.count,
        "crumbs": [("Inventory", None)],
    }
    template = "inventory/component_list.html"
    # A history restore (Back after a filter) swaps the whole body, so it needs the whole page.
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context)


@login_required
def component_detail(request, pk: int):
    try:
        component = selectors.component_detail(pk)
    except Component.DoesNotExist:
        return render(
            request,
            "404.html",
            {"what": f"component {pk}", "crumbs": [INVENTORY_CRUMB]},
            status=404,
        )
    _, findings = finding_list(component_ids=[component.pk])
    instances = paginate(request, selectors.component_instances(component), default_size=50)
    return render(
        request,
        "inventory/component_detail.html",
        {
            "component": component,
            "findings": findings,
            "instances": instances,
            "panels": render_panels("component_detail", request, component),
            "crumbs": [INVENTORY_CRUMB, (component.name, None)],
        },
    )


def _save_form(request, form: ComponentForm, save) -> Component | None:
    if not form.is_valid():
        return None
    try:
        return save(form.edited_data())
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


@login_required
@permission_required("inventory.add_component", raise_exception=True)
def component_create(request):
    form = ComponentForm(request.POST or None, initial={"mode": "immutable", "provider": "sandbox"})
    if request.method == "POST":
        component = _save_form(request, form, lambda data: services.component_create(data=data))
        if component:
            messages.success(request, f"Component {component.name} created.")
            return redirect(component)
    crumbs = [INVENTORY_CRUMB, ("New component", None)]
    return render(request, "inventory/component_form.html", {"form": form, "crumbs": crumbs})


@login_required
@permission_required("inventory.change_component", raise_exception=True)
def component_edit(request, pk: int):
    component = get_object_or_404(Component, pk=pk)
    scope.require(request.user, component)
    form = ComponentForm(request.POST or None, instance=component)
    if request.method == "POST":
        saved = _save_form(
            request,
            form,
            lambda data: services.component_update(component=component, data=data),
        )
        if saved:
            messages.success(request, f"Component {saved.name} saved.")
            return redirect(saved)
    crumbs = [
        INVENTORY_CRUMB,
        (component.name, component.get_absolute_url()),
        ("Edit", None),
    ]
    return render(
        request,
        "inventory/component_form.html",
        {"form": form, "component": component, "crumbs": crumbs},
    )


@login_required
@permission_required("inventory.delete_component", raise_exception=True)
@require_POST
def component_delete(request, pk: int):
    component = get_object_or_404(Component, pk=pk)
    try:
        validated_delete(component)
    except ApplicationError as exc:  # another app refused (an operation in progress): say why on the page
        messages.error(request, exc.message)
        return redirect(component)
    except (ProtectedError, RestrictedError) as exc:
        messages.error(request, f"{component.name}: {in_use_message(exc)}")
        return redirect(component)
    messages.success(request, f"Component {component.name} deleted.")
    return redirect("component_list")
