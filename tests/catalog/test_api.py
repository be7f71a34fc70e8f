"""The catalog endpoints: wiring, permissions, error bodies, idempotency, size."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from estate.access import roles
from estate.catalog.models import CatalogApply
from estate.inventory.models import Component
from tests.catalog.conftest import BASE, inventory_counts
from tests.conftest import token_client, user_with_role
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

PLAN = "/api/v1/catalog/plan/"
APPLY = "/api/v1/catalog/apply/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_yaml(client, url, text=BASE, **extra):
    return client.post(url, data=text.encode(), content_type="application/yaml", **extra)


def test_schema_is_served_to_anyone_for_editors():
    response = APIClient().get("/api/v1/catalog/schema/")
    assert response.status_code == 200
    assert response.json()["title"] == "Estate catalog (estate/v1)"
    assert "holdsState" in response.json()["properties"]["components"]["items"]["properties"]


def test_plan_answers_the_diff_and_writes_nothing(viewer_api):
    before = inventory_counts()
    response = post_yaml(viewer_api, PLAN)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["summary"] == {"create": 6, "update": 0, "unchanged": 0, "prune": 0}
    assert body["applied"] is False
    assert {
        "kind": "component",
        "key": "production/cart-api",
        "action": "create",
        "changes": {},
        "where": "catalog.yaml:11",
    } in body["items"]
    assert inventory_counts() == before


def test_plan_takes_a_file_upload_or_json(viewer_api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("shop.yaml", BASE.encode())
    assert viewer_api.post(PLAN, {"file": upload}, format="multipart").json()["catalog"] == "shop.yaml"
    assert viewer_api.post(PLAN, {"catalog": BASE, "name": "x.yaml"}, format="json").json()["catalog"] == "x.yaml"


def test_plan_needs_a_role_that_reads(db):
    nobody = UserFactory(username="nobody")
    assert post_yaml(client_for(nobody), PLAN).status_code == 403
    assert post_yaml(APIClient(), PLAN).status_code in (401, 403)


def test_apply_needs_the_admin_role(viewer, operator):
    for user in (viewer, operator):
        response = post_yaml(client_for(user), APPLY)
        assert response.status_code == 403
        assert response.json()["detail"] == "Applying a catalog needs the admin role."
    assert Component.objects.count() == 0


def test_apply_as_an_admin_writes_and_answers_the_plan(estate_admin):
    response = post_yaml(client_for(estate_admin), APPLY + "?name=shop.yaml")
    assert response.status_code == 200, response.json()
    assert response.json()["applied"] is True
    assert Component.objects.count() == 2
    assert CatalogApply.objects.get().user == estate_admin


def test_refusal_names_the_place_in_the_error_body(api):
    text = BASE.replace("category: service", "category: service\n    mode: bastion")
    response = post_yaml(api, APPLY, text)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "catalog.yaml:11 components[0].engine: Required for a bastion component. (and 2 more)",
        "errors": {
            "catalog.yaml:11 components[0].engine": ["Required for a bastion component."],
            "catalog.yaml:17 components[0].provider": [
                "Only an immutable component has this; leave it empty for a bastion component."
            ],
            "catalog.yaml:18 components[0].desiredInstances": [
                "Only an immutable component has this; leave it empty for a bastion component."
            ],
        },
    }
    assert Component.objects.count() == 0


def test_over_the_size_limit_is_413_and_nothing_is_applied(api, settings):
    settings.CATALOG_MAX_BYTES = 100
    response = post_yaml(api, APPLY)
    assert response.status_code == 413
    assert "CATALOG_MAX_BYTES" in response.json()["detail"]
    assert Component.objects.count() == 0


def test_same_idempotency_key_applies_once_and_replays_the_answer(api):
    first = post_yaml(api, APPLY, HTTP_IDEMPOTENCY_KEY="k1")
    Component.objects.filter(slug="cart-api").update(desired_instances=9)  # changed since, by someone else
    second = post_yaml(api, APPLY, HTTP_IDEMPOTENCY_KEY="k1")
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Component.objects.get(slug="cart-api").desired_instances == 9  # not applied again
    assert CatalogApply.objects.count() == 1


def test_idempotency_key_reused_for_another_catalog_is_422(api):
    post_yaml(api, APPLY, HTTP_IDEMPOTENCY_KEY="k1")
    response = post_yaml(
        api, APPLY, BASE.replace("desiredInstances: 3", "desiredInstances: 4"), HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {"Idempotency-Key": ["Reused for a different catalog."]}


def test_a_refused_apply_does_not_use_up_its_idempotency_key(api):
    assert post_yaml(api, APPLY, BASE + "    colour: red\n", HTTP_IDEMPOTENCY_KEY="k1").status_code == 400
    assert not CatalogApply.objects.exists()


def test_scoped_admin_may_apply_only_objects_in_their_scope(api):
    post_yaml(api, APPLY)
    shop_team = TeamFactory(slug="elsewhere")
    scoped = user_with_role("scoped-admin", roles.ADMIN)
    roles.grant(scoped, roles.ADMIN, teams=[shop_team])
    # A change to a component of team web, outside the scope: refused with the place, nothing written.
    response = post_yaml(client_for(scoped), APPLY, BASE.replace("desiredInstances: 3", "desiredInstances: 4"))
    assert response.status_code == 403, response.json()
    assert response.json()["errors"] == {
        "catalog.yaml:11 components[0]": [
            "Your access is limited to some teams and systems; this component belongs to one outside them."
        ]
    }
    assert Component.objects.get(slug="cart-api").desired_instances == 3
    # The same catalog, unchanged, writes nothing, so nothing is out of scope.
    assert post_yaml(client_for(scoped), APPLY).status_code == 200


def test_prune_in_use_answers_409_listing_each_refusal(api):
    post_yaml(api, APPLY)
    response = post_yaml(api, APPLY + "?prune=true", "apiVersion: estate/v1\nkind: Catalog\nenvironments: []\n")
    assert response.status_code == 409
    assert response.json()["errors"] == {"environment production": ["Not pruned: still used by components."]}


def test_export_yaml_and_csv(api, viewer_api):
    post_yaml(api, APPLY)
    yaml_response = viewer_api.get("/api/v1/catalog/export/?format=yaml")
    assert yaml_response.status_code == 200
    assert yaml_response["Content-Type"].startswith("application/yaml")
    assert b"slug: cart-api" in yaml_response.content
    csv_response = viewer_api.get("/api/v1/catalog/export/?format=csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    assert b"production,cart-api,cart-api,service,immutable" in csv_response.content


def test_read_token_may_export_but_not_apply(admin_user):
    client = token_client(admin_user, scope="read")
    assert client.get("/api/v1/catalog/export/").status_code == 200
    assert post_yaml(client, APPLY).status_code == 403


def test_csv_body_is_accepted(api):
    post_yaml(api, APPLY)
    csv_text = "environment,slug,category,desired_instances\nproduction,cart-api,service,6\n"
    response = api.post(PLAN, data=csv_text.encode(), content_type="text/csv")
    assert response.status_code == 200, response.json()
    assert response.json()["catalog"] == "catalog.csv"
    assert response.json()["summary"]["update"] == 1
