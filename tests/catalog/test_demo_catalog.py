"""The demo estate is the example catalog: load_demo applies examples/catalog/, so the example is known to apply
and describes exactly what `make run` shows."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from estate.catalog.demo import EXAMPLE_CATALOG
from estate.catalog.services import catalog_plan
from estate.catalog.spec import parse, read_path
from estate.inventory.models import Component

pytestmark = pytest.mark.django_db


def _plan():
    return catalog_plan(catalog=parse(read_path(str(EXAMPLE_CATALOG))))


def test_after_load_demo_the_example_catalog_plans_unchanged_but_for_what_discovery_found():
    call_command("load_demo", stdout=io.StringIO())
    plan = _plan()
    assert plan.summary() == {"create": 0, "update": 0, "unchanged": 71, "prune": 1}
    assert [item.label for item in plan.items if item.action == "prune"] == ["production/legacy-reports"]
    # What the catalog cannot say, load_demo adds: image history and instances, some deliberately sick.
    cart = Component.objects.get(environment__slug="production", slug="cart-api")
    assert list(cart.images.order_by("version").values_list("version", flat=True)) == ["1.1.0", "1.2.0", "1.3.0"]
    assert cart.instances.count() == cart.desired_instances == 3
    assert cart.instances.exclude(image=cart.current_image).count() == 1  # the drift the demo shows


def test_a_change_to_the_example_catalog_is_what_load_demo_loads(tmp_path, monkeypatch):
    folder = tmp_path / "catalog"
    folder.mkdir()
    for path in EXAMPLE_CATALOG.iterdir():
        text = path.read_text()
        if path.name == "production.yaml":
            text = text.replace("  engineVersion: '16.3'\n", "  engineVersion: '16.4'\n")
        (folder / path.name).write_text(text)
    monkeypatch.setattr("estate.catalog.demo.EXAMPLE_CATALOG", folder)
    call_command("load_demo", stdout=io.StringIO())
    db3 = Component.objects.get(environment__slug="production", slug="storefront-db-3")
    assert db3.engine_version == "16.4"
