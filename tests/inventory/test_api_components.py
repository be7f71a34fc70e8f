"""/api/v1/components/: auth, CRUD, bulk create, filters, ordering, pagination and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from rest_framework.test import APIClient

from estate.api_urls import router
from estate.inventory.choices import InstanceState, Mode
from estate.inventory.models import Component
from tests.factories import (
    BastionComponentFactory,
    EnvironmentFactory,
    ImmutableComponentFactory,
    InstanceFactory,
    SystemFactory,
    TagFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/components/"


def detail(pk: int) -> str:
    return f"{URL}{pk}/"


@pytest.fixture
def env():
    return EnvironmentFactory()


def immutable_payload(**overrides) -> dict:
    data = {
        "name": "orders-api",
        "slug": "orders-api",
        "environment": "production",
        "category": "service",
        "mode": "immutable",
        "provider": "sandbox",
        "desired_instances": 3,
        "heartbeat_period_seconds": 30,
    }
    return {**data, **overrides}


def bastion_payload(**overrides) -> dict:
    data = {
        "name": "orders-db",
        "slug": "orders-db",
        "environment": "production",
        "category": "database",
        "holds_state": True,
        "mode": "bastion",
        "engine": "postgresql",
        "engine_version": "16.4",
        "patch_cadence_days": 30,
    }
    return {**data, **overrides}


def assert_error(response, status: int, *fields: str) -> dict:
    """The one error shape, naming exactly the fields a script will look for."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    for field in fields:
        assert field in body["errors"], body
    return body


# --- auth -------------------------------------------------------------------------------------

# The change calendar has no root, only /calendar/state/ (checked on its own below).
LIST_PREFIXES = sorted(prefix for prefix, _viewset, _basename in router.registry if prefix != "calendar")


def test_every_router_endpoint_is_covered_by_the_anonymous_check():
    assert {"components", "instances", "images", "systems", "clusters", "teams", "environments", "tags"} <= set(
        LIST_PREFIXES
    )
    assert "findings" in LIST_PREFIXES


@pytest.mark.parametrize("prefix", LIST_PREFIXES)
def test_anonymous_cannot_read_any_list(prefix):
    ImmutableComponentFactory(ssh_enabled=True)  # something to leak, findings included
    response = APIClient().get(f"/api/v1/{prefix}/")
    assert response.status_code in (401, 403)
    assert "results" not in response.json()
    assert response.json()["errors"] == {}


def test_anonymous_cannot_ask_the_change_calendar():
    component = ImmutableComponentFactory()
    response = APIClient().get(f"/api/v1/calendar/state/?component={component.pk}")
    assert response.status_code in (401, 403)


def test_anonymous_cannot_read_a_component_or_write(env):
    component = ImmutableComponentFactory()
    client = APIClient()
    assert client.get(detail(component.pk)).status_code in (401, 403)
    assert client.post(URL, immutable_payload(slug="new", name="new"), format="json").status_code in (401, 403)
    assert client.delete(detail(component.pk)).status_code in (401, 403)
    assert Component.objects.count() == 1


def test_token_authentication_reads_and_writes(token_api, env):
    ImmutableComponentFactory()
    assert token_api.get(URL).status_code == 200
    response = token_api.post(URL, immutable_payload(), format="json")
    assert response.status_code == 201, response.content
    assert Component.objects.filter(slug="orders-api").exists()


def test_a_wrong_token_is_refused(env):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get(URL)
    assert response.status_code in (401, 403)
    assert response.json()["errors"] == {}


def test_session_login_without_csrf_token_cannot_write(editor, env):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="editor", password="pass-word-123")
    assert client.get(URL).status_code == 200
    response = client.post(URL, immutable_payload(), format="json")
    assert response.status_code == 403
    assert not Component.objects.exists()


def test_viewer_reads_but_cannot_write(viewer_api, env):
    component = ImmutableComponentFactory(description="before")
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.get(detail(component.pk)).status_code == 200
    assert viewer_api.post(URL, immutable_payload(), format="json").status_code == 403
    assert viewer_api.patch(detail(component.pk), {"description": "after"}, format="json").status_code == 403
    assert viewer_api.put(detail(component.pk), immutable_payload(), format="json").status_code == 403
    assert viewer_api.delete(detail(component.pk)).status_code == 403
    assert viewer_api.post(URL, [immutable_payload()], format="json").status_code == 403
    component.refresh_from_db()
    assert component.description == "before"
    assert list(Component.objects.values_list("pk", flat=True)) == [component.pk]


def test_operator_creates_and_updates_but_cannot_delete(editor, env):
    client = APIClient()
    client.force_authenticate(editor)
    created = client.post(URL, immutable_payload(), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    patched = client.patch(detail(pk), {"description": "checkout"}, format="json")
    assert patched.status_code == 200, patched.content
    assert Component.objects.get(pk=pk).description == "checkout"
    assert client.delete(detail(pk)).status_code == 403
    assert Component.objects.filter(pk=pk).exists()


# --- create -----------------------------------------------------------------------------------


def test_create_immutable_component(api, env):
    tag = TagFactory(name="pci")
    system = SystemFactory(slug="shop")
    team = TeamFactory(slug="payments")
    response = api.post(
        URL,
        immutable_payload(tags=[tag.slug], system="shop", team="payments"),
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mode"] == "immutable"
    assert body["environment"] == "production"
    assert body["tags"] == ["pci"]
    assert body["instance_count"] == 0
    assert body["tainted_count"] == 0
    component = Component.objects.get(pk=body["id"])
    assert component.mode == Mode.IMMUTABLE
    assert component.desired_instances == 3
    assert component.system == system
    assert component.team == team
    assert list(component.tags.all()) == [tag]


def test_create_bastion_component(api, env):
    response = api.post(URL, bastion_payload(), format="json")
    assert response.status_code == 201, response.content
    component = Component.objects.get(pk=response.json()["id"])
    assert component.mode == Mode.BASTION
    assert component.holds_state
    assert component.engine == "postgresql"


def test_mode_defaults_to_bastion_when_the_component_holds_state(api, env):
    payload = bastion_payload()
    del payload["mode"]
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["mode"] == "bastion"
    assert Component.objects.get().mode == Mode.BASTION


def test_mode_defaults_to_immutable_when_the_component_holds_no_state(api, env):
    payload = immutable_payload()
    del payload["mode"]
    response = api.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["mode"] == "immutable"
    assert Component.objects.get().mode == Mode.IMMUTABLE


def test_stateful_component_cannot_be_created_immutable(api, env):
    response = api.post(URL, immutable_payload(holds_state=True), format="json")
    body = assert_error(response, 400, "mode")
    assert "bastion" in body["errors"]["mode"][0]
    assert not Component.objects.exists()


def test_immutable_component_with_an_engine_is_refused(api, env):
    response = api.post(URL, immutable_payload(engine="postgresql"), format="json")
    assert_error(response, 400, "engine")
    assert not Component.objects.exists()


def test_unknown_environment_is_named(api, env):
    response = api.post(URL, immutable_payload(environment="nope"), format="json")
    assert_error(response, 400, "environment")
    assert not Component.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("desired_instances", "many"),
        ("tags", "x"),
        ("depends_on", [999999]),
        ("depends_on", "x"),
        ("holds_state", [1]),
        ("mode", "mutable"),
        ("category", {"a": 1}),
        ("name", {"a": 1}),
        ("environment", ["production"]),
        ("heartbeat_period_seconds", 5),
        ("desired_instances", -1),
    ],
)
def test_wrong_types_and_values_are_named(api, env, field, value):
    response = api.post(URL, immutable_payload(**{field: value}), format="json")
    assert_error(response, 400, field)
    assert not Component.objects.exists()


def test_missing_required_fields_are_each_named(api, env):
    response = api.post(URL, {}, format="json")
    body = assert_error(response, 400, "name", "slug", "environment", "category")
    assert "mode" not in body["errors"]
    assert not Component.objects.exists()


def test_immutable_without_a_provider_is_refused(api, env):
    payload = immutable_payload()
    del payload["provider"]
    assert_error(api.post(URL, payload, format="json"), 400, "provider")
    assert not Component.objects.exists()


def test_duplicate_slug_in_one_environment_is_refused(api, env):
    ImmutableComponentFactory(name="orders-api", slug="orders-api", environment=env)
    response = api.post(URL, immutable_payload(), format="json")
    body = assert_error(response, 400, "slug")
    assert "already exists" in body["detail"]
    assert Component.objects.count() == 1


def test_create_with_dependencies(api, env):
    database = BastionComponentFactory(environment=env)
    response = api.post(URL, immutable_payload(depends_on=[database.pk]), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["depends_on"] == [database.pk]
    assert list(Component.objects.get(slug="orders-api").depends_on.all()) == [database]


# --- update and delete ------------------------------------------------------------------------


def test_patch_updates_only_the_given_fields(api, env):
    component = ImmutableComponentFactory(environment=env, description="before", desired_instances=2)
    tag = TagFactory(name="edge")
    response = api.patch(detail(component.pk), {"description": "after", "tags": ["edge"]}, format="json")
    assert response.status_code == 200, response.content
    component.refresh_from_db()
    assert component.description == "after"
    assert component.desired_instances == 2
    assert component.mode == Mode.IMMUTABLE
    assert list(component.tags.all()) == [tag]


def test_patch_that_breaks_a_rule_writes_nothing(api, env):
    component = ImmutableComponentFactory(environment=env, description="before")
    response = api.patch(detail(component.pk), {"holds_state": True, "description": "after"}, format="json")
    body = assert_error(response, 400, "mode")
    assert "bastion" in body["errors"]["mode"][0]
    component.refresh_from_db()
    assert component.holds_state is False
    assert component.description == "before"


def test_patch_cannot_make_a_component_depend_on_itself(api, env):
    component = ImmutableComponentFactory(environment=env)
    response = api.patch(detail(component.pk), {"depends_on": [component.pk]}, format="json")
    assert_error(response, 400, "depends_on")
    assert not component.depends_on.exists()


def test_put_replaces_the_component(api, env):
    component = ImmutableComponentFactory(environment=env, name="old", slug="old", description="old")
    payload = immutable_payload(name="new", slug="new", description="")
    response = api.put(detail(component.pk), payload, format="json")
    assert response.status_code == 200, response.content
    component.refresh_from_db()
    assert (component.name, component.slug, component.description) == ("new", "new", "")
    assert component.desired_instances == 3


def test_put_without_required_fields_is_refused(api, env):
    component = ImmutableComponentFactory(environment=env, name="old", slug="old")
    response = api.put(detail(component.pk), {"description": "x"}, format="json")
    assert_error(response, 400, "name", "slug", "environment", "category")
    component.refresh_from_db()
    assert component.name == "old"
    assert component.description == ""


def test_delete(api, env):
    component = ImmutableComponentFactory(environment=env)
    response = api.delete(detail(component.pk))
    assert response.status_code == 204
    assert not Component.objects.exists()


def test_unknown_component_is_a_json_404(api):
    for response in (api.get(detail(999999)), api.patch(detail(999999), {}, format="json"), api.get(f"{URL}abc/")):
        assert response.status_code == 404
        assert response.json() == {"detail": response.json()["detail"], "errors": {}}
        assert response.json()["detail"]


# --- bulk create ------------------------------------------------------------------------------


def test_bulk_create_returns_every_row(api, env):
    items = [immutable_payload(name=f"svc-{i}", slug=f"svc-{i}") for i in range(3)] + [bastion_payload()]
    response = api.post(URL, items, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert isinstance(body, list)
    assert sorted(row["slug"] for row in body) == ["orders-db", "svc-0", "svc-1", "svc-2"]
    assert all("instance_count" in row for row in body)
    assert Component.objects.count() == 4
    assert Component.objects.get(slug="orders-db").mode == Mode.BASTION


def test_bulk_create_with_one_type_error_creates_nothing(api, env):
    items = [
        immutable_payload(name="a", slug="a"),
        immutable_payload(name="b", slug="b", environment="nope"),
        immutable_payload(name="c", slug="c"),
    ]
    response = api.post(URL, items, format="json")
    body = assert_error(response, 400, "1")
    assert "environment" in body["errors"]["1"]
    assert set(body["errors"]) == {"1"}
    assert not Component.objects.exists()


def test_bulk_create_with_one_rule_error_creates_nothing(api, env):
    items = [
        immutable_payload(name="a", slug="a"),
        immutable_payload(name="b", slug="b", holds_state=True),
        immutable_payload(name="c", slug="c"),
    ]
    response = api.post(URL, items, format="json")
    body = assert_error(response, 400, "1")
    assert set(body["errors"]) == {"1"}
    assert "bastion" in body["errors"]["1"]["mode"][0]
    assert not Component.objects.exists()


def test_bulk_create_with_a_duplicate_inside_the_batch_creates_nothing(api, env):
    items = [immutable_payload(), immutable_payload()]
    response = api.post(URL, items, format="json")
    body = assert_error(response, 400, "1")
    assert set(body["errors"]) == {"1"}
    assert not Component.objects.exists()


def test_bulk_create_with_a_non_object_item_is_refused(api, env):
    response = api.post(URL, [immutable_payload(), "orders-api"], format="json")
    assert_error(response, 400, "1")
    assert not Component.objects.exists()


@override_settings(API_BULK_LIMIT=2)
def test_bulk_create_over_the_limit_is_413(api, env):
    items = [immutable_payload(name=f"svc-{i}", slug=f"svc-{i}") for i in range(3)]
    response = api.post(URL, items, format="json")
    body = assert_error(response, 413)
    assert "2" in body["detail"]
    assert not Component.objects.exists()


@override_settings(API_BULK_LIMIT=2)
def test_bulk_create_at_the_limit_is_accepted(api, env):
    items = [immutable_payload(name=f"svc-{i}", slug=f"svc-{i}") for i in range(2)]
    assert api.post(URL, items, format="json").status_code == 201
    assert Component.objects.count() == 2


def test_bulk_create_of_an_empty_list_is_refused(api, env):
    response = api.post(URL, [], format="json")
    body = assert_error(response, 400)
    assert "empty" in body["detail"].lower()
    assert not Component.objects.exists()


# --- list: filters, ordering, pagination --------------------------------------------------------


@pytest.fixture
def estate(env):
    staging = EnvironmentFactory(name="Staging", slug="staging", is_production=False)
    shop = SystemFactory(name="Shop", slug="shop")
    payments = TeamFactory(name="Payments", slug="payments")
    pci = TagFactory(name="pci")
    api_ = ImmutableComponentFactory(
        name="checkout-api", slug="checkout-api", environment=env, system=shop, team=payments
    )
    api_.tags.add(pci)
    worker = ImmutableComponentFactory(name="mailer", slug="mailer", environment=staging, category="worker")
    database = BastionComponentFactory(
        name="orders-db", slug="orders-db", environment=env, system=shop, description="Holds every order"
    )
    database.tags.add(pci)
    InstanceFactory.create_batch(3, component=api_)
    InstanceFactory(component=api_, tainted=True, taint_reason="ssh session")
    InstanceFactory(component=api_, state=InstanceState.TERMINATED)
    InstanceFactory(component=worker)
    return {"api": api_, "worker": worker, "database": database}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("mode=immutable", ["checkout-api", "mailer"]),
        ("mode=bastion", ["orders-db"]),
        ("category=worker", ["mailer"]),
        ("environment=staging", ["mailer"]),
        ("system=shop", ["checkout-api", "orders-db"]),
        ("team=payments", ["checkout-api"]),
        ("tag=pci", ["checkout-api", "orders-db"]),
        ("holds_state=true", ["orders-db"]),
        ("holds_state=false", ["checkout-api", "mailer"]),
        ("holds_state=1", ["orders-db"]),
        ("holds_state=0", ["checkout-api", "mailer"]),
        ("holds_state=", ["checkout-api", "mailer", "orders-db"]),
        ("holds_state=unknown", ["checkout-api", "mailer", "orders-db"]),
        ("q=every+order", ["orders-db"]),
        ("q=SHOP", ["checkout-api", "orders-db"]),
        ("q=mail", ["mailer"]),
        ("mode=immutable&environment=production", ["checkout-api"]),
        ("engine=postgresql", ["orders-db"]),
        ("provider=sandbox", ["checkout-api", "mailer"]),
    ],
)
def test_filters(api, estate, query, expected):
    assert sorted(names(api.get(f"{URL}?{query}"))) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("environment=nope", "environment"),
        ("system=nope", "system"),
        ("team=nope", "team"),
        ("tag=nope", "tag"),
        ("mode=mutable", "mode"),
        ("category=robot", "category"),
        ("ordering=password", "ordering"),
        ("holds_state=maybe", "holds_state"),
        ("holds_state=yes", "holds_state"),
    ],
)
def test_invalid_filter_value_is_400_naming_the_field(api, estate, query, field):
    assert_error(api.get(f"{URL}?{query}"), 400, field)


def test_ordering(api, estate):
    assert names(api.get(f"{URL}?ordering=name")) == ["checkout-api", "mailer", "orders-db"]
    assert names(api.get(f"{URL}?ordering=-name")) == ["orders-db", "mailer", "checkout-api"]
    assert names(api.get(f"{URL}?ordering=-instances")) == ["checkout-api", "mailer", "orders-db"]
    assert names(api.get(f"{URL}?ordering=instances,name")) == ["orders-db", "mailer", "checkout-api"]


def test_results_include_live_instance_and_taint_counts(api, estate):
    rows = {row["name"]: row for row in api.get(URL).json()["results"]}
    assert (rows["checkout-api"]["instance_count"], rows["checkout-api"]["tainted_count"]) == (4, 1)
    assert (rows["mailer"]["instance_count"], rows["mailer"]["tainted_count"]) == (1, 0)
    assert (rows["orders-db"]["instance_count"], rows["orders-db"]["tainted_count"]) == (0, 0)
    one = api.get(detail(estate["api"].pk)).json()
    assert (one["instance_count"], one["tainted_count"]) == (4, 1)


def test_pagination(api, env):
    for i in range(5):
        ImmutableComponentFactory(name=f"svc-{i}", slug=f"svc-{i}", environment=env)
    first = api.get(f"{URL}?page_size=2&ordering=name").json()
    assert first["count"] == 5
    assert [row["name"] for row in first["results"]] == ["svc-0", "svc-1"]
    assert first["previous"] is None
    assert "page=2" in first["next"]
    last = api.get(f"{URL}?page_size=2&ordering=name&page=3").json()
    assert [row["name"] for row in last["results"]] == ["svc-4"]
    assert last["next"] is None
    assert "page_size=2" in last["previous"]


def test_page_past_the_end_is_a_json_404(api, env):
    ImmutableComponentFactory(environment=env)
    assert_error(api.get(f"{URL}?page=9"), 404)


def test_a_page_that_is_not_a_whole_number_from_1_is_a_400_naming_it(api, env):
    ImmutableComponentFactory(environment=env)
    for page in ("abc", "0", "-1", "last"):
        assert_error(api.get(f"{URL}?page={page}"), 400, "page")


def test_list_query_count_does_not_grow_with_the_estate(api, env):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.get(URL)
        assert response.status_code == 200
        return len(captured.captured_queries)

    def add(n: int):
        tag = TagFactory()
        for _ in range(n):
            component = ImmutableComponentFactory(environment=env)
            component.tags.add(tag)
            component.depends_on.add(BastionComponentFactory(environment=env))
            InstanceFactory(component=component)

    add(3)
    small = queries_for_list()
    add(27)
    assert Component.objects.count() == 60
    large = queries_for_list()
    assert small == large
    assert api.get(URL).json()["count"] == 60
