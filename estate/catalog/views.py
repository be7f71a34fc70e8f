"""The catalog page: paste or upload a catalog, read its plan, confirm it (the confirm carries the
plan's digest, so a catalog or inventory that changed in between is planned again, not applied)."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from estate.catalog import rules, services
from estate.catalog.errors import CatalogError
from estate.catalog.loader import check_size
from estate.catalog.models import CatalogApply
from estate.catalog.plan import PRUNE, Plan
from estate.catalog.spec import parse
from estate.core.errors import ApplicationError

TEMPLATE = "catalog/catalog_page.html"
CRUMBS = [("Catalog", None)]


def _context(request, **extra) -> dict:
    return {
        "crumbs": CRUMBS,
        "may_apply": rules.may_apply(request.user),
        "applies": CatalogApply.objects.select_related("user")[:10],
        "max_bytes": settings.CATALOG_MAX_BYTES,
    } | extra


@login_required
def catalog_page(request):
    if not rules.may_plan(request.user):
        raise PermissionDenied(rules.PLAN_REFUSED)
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    text, name = request.POST.get("catalog", ""), request.POST.get("name") or "catalog.yaml"
    prune = request.POST.get("prune") == "on"
    try:
        text, name = _submitted(request, text, name)
        plan = services.catalog_plan(catalog=parse([(name, text.encode())], name=name), prune=prune)
    except ApplicationError as exc:
        return _refused(request, exc, text=text, name=name, prune=prune)
    return render(request, TEMPLATE, _context(request, **_planned(plan, text)))


@login_required
@require_POST
def catalog_confirm(request):
    if not rules.may_apply(request.user):
        raise PermissionDenied(rules.APPLY_REFUSED)
    text, name = request.POST.get("catalog", ""), request.POST.get("name") or "catalog.yaml"
    prune = request.POST.get("prune") == "on"
    try:
        catalog = parse([(name, text.encode())], name=name)
        plan = services.catalog_apply(
            catalog=catalog, prune=prune, user=request.user, expected_digest=request.POST.get("digest", "")
        )
    except CatalogError as exc:
        return _refused(request, exc, text=text, name=name, prune=prune)
    except ApplicationError as exc:
        if exc.status != 409:
            return _refused(request, exc, text=text, name=name, prune=prune)
        # The plan read is stale: show the new one to confirm instead.
        messages.warning(request, exc.message)
        plan = services.catalog_plan(catalog=catalog, prune=prune)
        return render(request, TEMPLATE, _context(request, **_planned(plan, text)))
    counts = plan.summary()
    pruned = counts[PRUNE] if prune else 0
    messages.success(
        request,
        f"Catalog {name} applied: {counts['create']} created, {counts['update']} updated, "
        f"{counts['unchanged']} unchanged, {pruned} pruned.",
    )
    return redirect("catalog_page")


def _submitted(request, text: str, name: str) -> tuple[str, str]:
    """The uploaded file if there is one, else the pasted text."""
    upload = request.FILES.get("file")
    if upload is None:
        return text, name
    check_size(upload.size)
    return upload.read().decode("utf-8", "replace"), upload.name


def _planned(plan: Plan, text: str) -> dict:
    changed = [item for item in plan.items if item.action != "unchanged"]
    for item in changed:
        item.shown = [(name, _shown(before), _shown(after)) for name, (before, after) in item.changes.items()]
    return {
        "plan": plan,
        "summary": plan.summary(),
        "changed": changed,
        "unchanged": len(plan.items) - len(changed),
        "catalog_text": text,
        "name": plan.catalog.name,
        "prune": plan.prune,
    }


def _shown(value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _refused(request, exc: ApplicationError, *, text: str, name: str, prune: bool):
    problems = [str(p) for p in getattr(exc, "problems", [])] or [exc.message]
    status = exc.status if exc.status in (400, 403, 409, 413) else 400
    context = _context(request, problems=problems, catalog_text=text, name=name, prune=prune, refused=True)
    return render(request, TEMPLATE, context, status=status)
