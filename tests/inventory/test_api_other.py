"""/api/v1/ instances, images, systems, clusters, teams, environments and tags."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from estate.inventory.choices import InstanceState
from estate.inventory.models import Cluster, Environment, Image, Instance, System, Tag, Team
from tests.factories import (
    BastionComponentFactory,
    ClusterFactory,
    EnvironmentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
    SystemFactory,
    TagFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    for field in fields:
        assert field in body["errors"], body
    return body


# --- instances --------------------------------------------------------------------------------


def test_create_instance_on_the_components_image(api):
    image = ImageFactory()
    response = api.post(
        "/api/v1/instances/",
        {"component": image.component_id, "image": image.pk, "external_id": "i-1", "zone": "eu-1a"},
        format="json",
    )
    assert response.status_code == 201, response.content
    instance = Instance.objects.get(pk=response.json()["id"])
    assert (instance.component_id, instance.image_id, instance.state) == (
        image.component_id,
        image.pk,
        InstanceState.RUNNING,
    )


def test_instance_with_another_components_image_is_refused(api):
    image = ImageFactory()
    other = ImmutableComponentFactory(environment=image.component.environment)
    response = api.post(
        "/api/v1/instances/",
        {"component": other.pk, "image": image.pk, "external_id": "i-1"},
        format="json",
    )
    assert_error(response, 400, "image")
    assert not Instance.objects.exists()


def test_tainted_instance_without_a_reason_is_refused(api):
    component = ImmutableComponentFactory()
    response = api.post(
        "/api/v1/instances/",
        {"component": component.pk, "external_id": "i-1", "tainted": True},
        format="json",
    )
    assert_error(response, 400, "taint_reason")
    assert not Instance.objects.exists()


def test_tainting_an_instance_without_a_reason_writes_nothing(api):
    instance = InstanceFactory()
    response = api.patch(f"/api/v1/instances/{instance.pk}/", {"tainted": True}, format="json")
    assert_error(response, 400, "taint_reason")
    instance.refresh_from_db()
    assert instance.tainted is False


def test_tainting_an_instance_with_a_reason(api):
    instance = InstanceFactory()
    response = api.patch(
        f"/api/v1/instances/{instance.pk}/", {"tainted": True, "taint_reason": "hotfix over ssh"}, format="json"
    )
    assert response.status_code == 200, response.content
    instance.refresh_from_db()
    assert (instance.tainted, instance.taint_reason) == (True, "hotfix over ssh")


def test_duplicate_external_id_is_refused(api):
    instance = InstanceFactory(external_id="i-1")
    response = api.post("/api/v1/instances/", {"component": instance.component_id, "external_id": "i-1"}, format="json")
    body = assert_error(response, 400)
    assert "__all__" not in body["errors"]
    assert Instance.objects.count() == 1


def test_instance_filters(api):
    one = InstanceFactory(external_id="i-a")
    InstanceFactory(external_id="i-b", tainted=True, taint_reason="x")
    InstanceFactory(external_id="i-c", state=InstanceState.TERMINATED)
    url = "/api/v1/instances/"

    def ids(query: str) -> list[str]:
        response = api.get(f"{url}?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["external_id"] for row in response.json()["results"])

    assert ids(f"component={one.component_id}") == ["i-a"]
    assert ids("tainted=true") == ["i-b"]
    assert ids("state=terminated") == ["i-c"]
    assert ids("environment=production") == ["i-a", "i-b", "i-c"]
    assert ids("ordering=-external_id&page_size=1") == ["i-c"]
    assert_error(api.get(f"{url}?state=exploded"), 400, "state")
    assert_error(api.get(f"{url}?component=abc"), 400, "component")
    assert_error(api.get(f"{url}?tainted=maybe"), 400, "tainted")
    assert_error(api.get(f"{url}?environment=nope"), 400, "environment")


def test_instance_missing_fields_are_named(api):
    assert_error(api.post("/api/v1/instances/", {}, format="json"), 400, "component", "external_id")
    assert not Instance.objects.exists()


def test_delete_instance(api):
    instance = InstanceFactory()
    assert api.delete(f"/api/v1/instances/{instance.pk}/").status_code == 204
    assert not Instance.objects.exists()


# --- images -----------------------------------------------------------------------------------


def test_create_image_and_make_it_current(api):
    component = ImmutableComponentFactory()
    response = api.post(
        "/api/v1/images/",
        {"component": component.pk, "version": "2.0.0", "reference": "ami-2", "make_current": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert "make_current" not in response.json()
    component.refresh_from_db()
    assert component.current_image_id == response.json()["id"]


def test_create_image_without_make_current_leaves_the_current_image(api):
    current = ImageFactory()
    component = current.component
    component.current_image = current
    component.save()
    response = api.post(
        "/api/v1/images/", {"component": component.pk, "version": "2.0.0", "reference": "ami-2"}, format="json"
    )
    assert response.status_code == 201, response.content
    component.refresh_from_db()
    assert component.current_image == current


def test_image_for_a_bastion_is_refused(api):
    database = BastionComponentFactory()
    response = api.post(
        "/api/v1/images/",
        {"component": database.pk, "version": "1.0.0", "reference": "ami-1", "make_current": True},
        format="json",
    )
    body = assert_error(response, 400, "component")
    assert "bastion" in body["errors"]["component"][0]
    assert not Image.objects.exists()


def test_duplicate_image_version_is_refused(api):
    image = ImageFactory(version="1.0.0")
    response = api.post(
        "/api/v1/images/",
        {"component": image.component_id, "version": "1.0.0", "reference": "ami-other", "make_current": True},
        format="json",
    )
    body = assert_error(response, 400)
    assert "version" in body["detail"]
    assert "__all__" not in body["errors"]
    assert Image.objects.count() == 1
    image.component.refresh_from_db()
    assert image.component.current_image is None


def test_image_filter_by_component(api):
    image = ImageFactory()
    ImageFactory()
    response = api.get(f"/api/v1/images/?component={image.component_id}")
    assert [row["id"] for row in response.json()["results"]] == [image.pk]


# --- systems, clusters, teams, environments, tags ---------------------------------------------


def test_teams_create_list_and_duplicate(api):
    client = api
    response = client.post("/api/v1/teams/", {"name": "Payments", "slug": "payments"}, format="json")
    assert response.status_code == 201, response.content
    assert client.get("/api/v1/teams/").json()["count"] == 1
    again = client.post("/api/v1/teams/", {"name": "Payments", "slug": "payments"}, format="json")
    assert_error(again, 400, "name", "slug")
    assert Team.objects.count() == 1


def test_environments_create_and_list(api):
    response = api.post(
        "/api/v1/environments/", {"name": "Staging", "slug": "staging", "is_production": False}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Environment.objects.get(slug="staging").is_production is False
    rows = api.get("/api/v1/environments/").json()["results"]
    assert [row["slug"] for row in rows] == ["staging"]
    assert_error(api.post("/api/v1/environments/", {"name": "X", "slug": "not a slug"}, format="json"), 400, "slug")
    assert Environment.objects.count() == 1


def test_tags_create_and_list(api):
    assert api.post("/api/v1/tags/", {"name": "pci", "slug": "pci"}, format="json").status_code == 201
    assert [row["slug"] for row in api.get("/api/v1/tags/").json()["results"]] == ["pci"]
    assert_error(api.post("/api/v1/tags/", {"name": "x"}, format="json"), 400, "slug")
    assert Tag.objects.count() == 1


def test_systems_create_filter_and_unknown_owner(api):
    TeamFactory(slug="payments")
    response = api.post("/api/v1/systems/", {"name": "Shop", "slug": "shop", "owner": "payments"}, format="json")
    assert response.status_code == 201, response.content
    assert System.objects.get(slug="shop").owner.slug == "payments"
    SystemFactory(name="Other", slug="other")
    assert [row["slug"] for row in api.get("/api/v1/systems/?owner=payments").json()["results"]] == ["shop"]
    assert [row["slug"] for row in api.get("/api/v1/systems/?q=sho").json()["results"]] == ["shop"]
    assert_error(api.get("/api/v1/systems/?owner=nope"), 400, "owner")
    bad = api.post("/api/v1/systems/", {"name": "Y", "slug": "y", "owner": "nope"}, format="json")
    assert_error(bad, 400, "owner")
    assert System.objects.count() == 2


def test_clusters_create_and_list(api):
    EnvironmentFactory()
    response = api.post(
        "/api/v1/clusters/",
        {"name": "orders-pg", "slug": "orders-pg", "engine": "postgresql", "environment": "production"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Cluster.objects.get(slug="orders-pg").environment.slug == "production"
    assert [row["slug"] for row in api.get("/api/v1/clusters/").json()["results"]] == ["orders-pg"]
    bad = api.post(
        "/api/v1/clusters/",
        {"name": "x", "slug": "x", "engine": "oracle", "environment": "nope"},
        format="json",
    )
    assert_error(bad, 400, "engine", "environment")
    assert Cluster.objects.count() == 1


def test_environment_in_use_cannot_be_deleted(api):
    component = ImmutableComponentFactory()
    response = api.delete(f"/api/v1/environments/{component.environment_id}/")
    body = assert_error(response, 409)
    assert "components" in body["detail"]
    assert Environment.objects.filter(pk=component.environment_id).exists()


@pytest.mark.parametrize("prefix", ["instances", "images", "systems", "clusters", "teams", "environments", "tags"])
def test_unknown_id_is_a_json_404(api, prefix):
    for response in (api.get(f"/api/v1/{prefix}/999999/"), api.delete(f"/api/v1/{prefix}/999999/")):
        assert response.status_code == 404
        body = response.json()
        assert set(body) == {"detail", "errors"}
        assert body["errors"] == {}
        assert body["detail"]


@pytest.mark.parametrize(
    ("prefix", "payload"),
    [
        ("teams", {"name": "T", "slug": "t"}),
        ("environments", {"name": "E", "slug": "e"}),
        ("tags", {"name": "g", "slug": "g"}),
        ("systems", {"name": "S", "slug": "s"}),
    ],
)
def test_viewer_cannot_write_reference_data(viewer_api, editor, prefix, payload):
    assert viewer_api.get(f"/api/v1/{prefix}/").status_code == 200
    assert viewer_api.post(f"/api/v1/{prefix}/", payload, format="json").status_code == 403
    operator_api = APIClient()
    operator_api.force_authenticate(editor)
    # The editor may edit the inventory's components, instances and images, not its reference data.
    assert operator_api.post(f"/api/v1/{prefix}/", payload, format="json").status_code == 403
    assert not Team.objects.exists()
    assert not Tag.objects.exists()
    assert not System.objects.exists()
    assert not Environment.objects.exists()


def test_cluster_member_outside_the_clusters_environment_is_refused(api):
    cluster = ClusterFactory(environment=EnvironmentFactory(name="Staging", slug="staging"))
    EnvironmentFactory()
    response = api.post(
        "/api/v1/components/",
        {
            "name": "orders-db",
            "slug": "orders-db",
            "environment": "production",
            "category": "database",
            "holds_state": True,
            "engine": "postgresql",
            "cluster": cluster.slug,
        },
        format="json",
    )
    assert_error(response, 400, "cluster")


def test_tag_unknown_slug_on_component_is_named(api):
    TagFactory(name="pci")
    EnvironmentFactory()
    response = api.post(
        "/api/v1/components/",
        {
            "name": "a",
            "slug": "a",
            "environment": "production",
            "category": "service",
            "provider": "sandbox",
            "tags": ["pci", "nope"],
        },
        format="json",
    )
    assert_error(response, 400, "tags")
