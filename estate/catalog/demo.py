"""The demo's inventory is the example catalog: `load_demo` applies examples/catalog/, then inventory's
demo adds what runs in it. One definition of the demo estate, and an example that is known to apply."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from estate.catalog.services import catalog_apply
from estate.catalog.spec import parse, read_path
from estate.inventory.demo import load_demo_runtime
from estate.inventory.models import Component

EXAMPLE_CATALOG = settings.BASE_DIR / "examples" / "catalog"


@transaction.atomic
def load_demo_inventory() -> int:
    """Apply the example catalog (without prune: what discovery added stays) and refresh what runs in it;
    answers the number of components the catalog describes."""
    catalog = parse(read_path(str(EXAMPLE_CATALOG)), name="demo")
    catalog_apply(catalog=catalog)
    keys = list(catalog.entries["component"])
    described = Q()
    for environment, slug in (key.split("/", 1) for key in keys):
        described |= Q(environment__slug=environment, slug=slug)
    load_demo_runtime(Component.objects.filter(described).select_related("environment").order_by("pk"))
    return len(keys)
