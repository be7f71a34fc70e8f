"""Plan and apply: diffs, upsert by natural key, prune, the audit trail, the round trip, CSV, queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from estate.audit.models import AuditEvent
from estate.catalog.errors import CatalogError
from estate.catalog.export import export_csv, export_yaml
from estate.catalog.models import CatalogApply
from estate.catalog.services import catalog_apply, catalog_plan
from estate.catalog.spec import parse, read_path
from estate.inventory.models import Cluster, Component, Environment, Image, Instance
from tests.catalog.conftest import HEAD, SHOP, catalog_of, inventory_counts
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db


def test_example_catalog_applies_and_then_plans_unchanged():
    plan = catalog_apply(catalog=parse(read_path(SHOP)))
    assert plan.summary() == {"create": 21, "update": 0, "unchanged": 0, "prune": 0}
    db = Component.objects.get(slug="shop-db-1")
    assert (db.mode, db.holds_state, db.cluster.slug, db.role) == ("bastion", True, "shop-pg", "primary")
    front = Component.objects.get(slug="web-frontend")
    assert front.current_image.version == "2026.11.1"
    assert Instance.objects.get(external_id="web-frontend-7d9f-1").image == front.current_image
    assert {
        c.slug for c in Component.objects.get(slug="cart-api", environment__slug="production").depends_on.all()
    } == {
        "shop-db-1",
        "session-cache",
    }
    again = catalog_plan(catalog=parse(read_path(SHOP)))
    assert again.summary() == {"create": 0, "update": 0, "unchanged": 21, "prune": 0}


def test_export_then_apply_on_an_empty_database_then_export_gives_the_same_bytes():
    catalog_apply(catalog=parse(read_path(SHOP)))
    ImmutableComponentFactory(slug="odd-one", name="Odd: one", description="multi\nline ünïcode")
    first = export_yaml()
    for model in (Instance, Component, Cluster, Environment):
        model.objects.all().delete()
    from estate.inventory.models import System, Tag, Team

    for model in (System, Tag, Team):
        model.objects.all().delete()
    assert inventory_counts()["Component"] == 0
    catalog_apply(catalog=catalog_of(first, "export.yaml"))
    assert export_yaml() == first


def test_update_plans_the_changed_fields_before_and_after(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    changed = base_catalog.replace("desiredInstances: 3", "desiredInstances: 5").replace('"16.4"', '"16.5"')
    plan = catalog_plan(catalog=catalog_of(changed))
    updates = {item.label: item.changes for item in plan.items if item.action == "update"}
    assert updates == {
        "production/cart-api": {"desiredInstances": (3, 5)},
        "production/shop-db": {"engineVersion": ("16.4", "16.5")},
    }
    catalog_apply(catalog=catalog_of(changed))
    assert Component.objects.get(slug="cart-api").desired_instances == 5


def test_upsert_matches_the_natural_key_never_the_database_id(base_catalog):
    existing = ImmutableComponentFactory(
        slug="cart-api", environment__slug="production", environment__name="Production"
    )
    plan = catalog_apply(catalog=catalog_of(base_catalog))
    assert {i.label: i.action for i in plan.items}["production/cart-api"] == "update"
    assert Component.objects.get(slug="cart-api").pk == existing.pk


def test_every_write_is_audited_as_the_catalog_on_behalf_of_the_person(base_catalog, admin_user):
    catalog_apply(catalog=catalog_of(base_catalog, "shop.yaml"), user=admin_user)
    events = AuditEvent.objects.filter(object_type="inventory.component")
    assert events.count() == 2
    assert {(e.actor, e.via, e.actor_id) for e in events} == {("catalog:shop.yaml", "catalog", admin_user.pk)}
    assert CatalogApply.objects.get().source == "shop.yaml"


def test_without_prune_rows_the_catalog_no_longer_lists_are_planned_but_kept(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    smaller = base_catalog.split("  - slug: shop-db")[0]
    plan = catalog_apply(catalog=catalog_of(smaller))
    assert [(i.label, i.action) for i in plan.items if i.action == "prune"] == [("production/shop-db", "prune")]
    assert Component.objects.filter(slug="shop-db").exists()


def test_prune_deletes_what_the_catalog_no_longer_lists(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    smaller = base_catalog.split("  - slug: shop-db")[0]
    catalog_apply(catalog=catalog_of(smaller), prune=True)
    assert not Component.objects.filter(slug="shop-db").exists()
    assert AuditEvent.objects.filter(action="delete", actor="catalog:catalog.yaml").count() == 1


def test_prune_only_touches_kinds_the_catalog_has_a_section_for(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    plan = catalog_apply(catalog=catalog_of(HEAD + "teams:\n  - {slug: web, name: Web}\n"), prune=True)
    assert plan.summary() == {"create": 0, "update": 0, "unchanged": 1, "prune": 0}
    assert Component.objects.count() == 2


def test_prune_of_rows_still_in_use_is_refused_with_409_naming_each_and_nothing_applied(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    # Environments are pruned, components are not managed by this catalog: staging is free, production is in use.
    text = HEAD + "teams: [{slug: web, name: Web}, {slug: new, name: New}]\nenvironments: []\n"
    before = inventory_counts()
    with pytest.raises(CatalogError) as caught:
        catalog_apply(catalog=catalog_of(text), prune=True)
    assert caught.value.status == 409
    assert [str(p) for p in caught.value.problems] == ["environment production: Not pruned: still used by components."]
    assert inventory_counts() == before


def test_image_change_builds_a_new_image_and_makes_it_current():
    text = (
        HEAD
        + """\
environments: [{slug: production}]
components:
  - slug: api
    environment: production
    category: service
    provider: aws
    image: {version: "1", reference: ami-1}
"""
    )
    catalog_apply(catalog=catalog_of(text))
    plan = catalog_apply(catalog=catalog_of(text.replace('"1", reference: ami-1', '"2", reference: ami-2')))
    assert plan.items[-1].changes == {
        "image": ({"version": "1", "reference": "ami-1"}, {"version": "2", "reference": "ami-2"})
    }
    api = Component.objects.get(slug="api")
    assert api.current_image.version == "2"
    assert Image.objects.filter(component=api).count() == 2


def test_a_bastion_declared_with_an_image_is_refused_on_the_image_key():
    text = (
        HEAD
        + """\
environments: [{slug: production}]
components:
  - {slug: db, environment: production, category: database, engine: mysql, image: {version: "1", reference: x}}
"""
    )
    with pytest.raises(CatalogError) as caught:
        catalog_plan(catalog=catalog_of(text))
    assert caught.value.problems[0].path == "components[0].image"


def test_components_csv_round_trips_and_leaves_columns_it_lacks_as_they_are(base_catalog):
    catalog_apply(catalog=catalog_of(base_catalog))
    csv_text = export_csv("components")
    assert csv_text.splitlines()[0].startswith("environment,slug,name,category,mode,holds_state")
    assert catalog_plan(catalog=catalog_of(csv_text, "components.csv")).summary()["unchanged"] == 2
    partial = "environment,slug,category,desired_instances\nproduction,cart-api,service,7\n"
    plan = catalog_apply(catalog=catalog_of(partial, "components.csv"))
    assert [(i.label, i.changes) for i in plan.items if i.action == "update"] == [
        ("production/cart-api", {"desiredInstances": (3, 7)})
    ]
    cart = Component.objects.get(slug="cart-api")
    assert (cart.desired_instances, cart.provider, cart.system.slug) == (7, "aws", "shop")


def test_instances_csv_imports_and_exports():
    catalog_apply(catalog=parse(read_path(SHOP)))
    csv_text = export_csv("instances")
    assert csv_text.splitlines()[0] == "component,external_id,state,address,zone,image"
    added = csv_text + "production/cart-api,i-0abc,running,10.0.3.4,eu-west-1c,\n"
    plan = catalog_apply(catalog=catalog_of(added, "instances.csv"))
    assert plan.summary() == {"create": 1, "update": 0, "unchanged": 4, "prune": 0}
    assert Instance.objects.get(external_id="i-0abc").component.slug == "cart-api"


def test_csv_errors_name_the_row():
    with pytest.raises(CatalogError) as caught:
        catalog_of("environment,slug,category,colour\n", "c.csv")
    assert "Unknown column 'colour'" in str(caught.value)
    with pytest.raises(CatalogError) as caught:
        catalog_of("environment,slug,category,provider\nproduction,a,service,ec2\n", "c.csv")
    assert caught.value.problems[0].place == "c.csv:2 components[0].provider"


def _catalog_with(n: int) -> str:
    rows = "".join(
        f"  - {{slug: svc-{i}, environment: production, category: service, provider: aws, tags: [t], "
        f"dependsOn: [svc-{i + 1}]}}\n"
        for i in range(n)
    )
    return (
        HEAD
        + "tags: [{slug: t}]\nenvironments: [{slug: production}]\ncomponents:\n"
        + rows
        + (f"  - {{slug: svc-{n}, environment: production, category: service, provider: aws}}\n")
    )


@pytest.mark.parametrize("phase", ["plan", "unchanged apply"])
def test_query_count_grows_with_kinds_not_objects(phase):
    counts = []
    for n in (5, 50):
        Component.objects.all().delete()
        text = _catalog_with(n)
        catalog_apply(catalog=catalog_of(text))
        with CaptureQueriesContext(connection) as queries:
            if phase == "plan":
                catalog_plan(catalog=catalog_of(text))
            else:
                catalog_apply(catalog=catalog_of(text))
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 14


def test_an_update_keeps_what_telemetry_wrote_after_the_plan_was_read(base_catalog):
    from estate.catalog.plan import plan_catalog
    from estate.catalog.services import _Writer

    catalog_apply(catalog=catalog_of(base_catalog))
    plan = plan_catalog(catalog_of(base_catalog.replace("desiredInstances: 3", "desiredInstances: 4")), prune=False)
    Component.objects.filter(slug="cart-api").update(health="down", health_reason="no heartbeat")  # meanwhile
    _Writer(plan).run()
    cart = Component.objects.get(slug="cart-api")
    assert (cart.desired_instances, cart.health, cart.health_reason) == (4, "down", "no heartbeat")
