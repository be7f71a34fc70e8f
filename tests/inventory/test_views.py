from __future__ import annotations

import pytest
from django.urls import reverse

from estate.inventory.models import STATEFUL_IMMUTABLE_MESSAGE, Component
from tests.factories import (
    BastionComponentFactory,
    EnvironmentFactory,
    ImageFactory,
    ImmutableComponentFactory,
    InstanceFactory,
    TeamFactory,
)
from tests.html_text import parse, table_rows

pytestmark = pytest.mark.django_db

LIST = reverse("component_list")
CREATE = reverse("component_create")


def _names(html) -> list[str]:
    """The component names in the list's table, in the order shown."""
    table = parse(html).find("table", data_testid="component-table")
    return [link.text for link in table.find_all("a", class_="fw-bold")]


def _card(html, title: str):
    for card in parse(html).find_all(class_="card"):
        titles = card.find_all(class_="card-title")
        if titles and titles[0].text.startswith(title):
            return card
    raise AssertionError(f"no card titled {title!r}")


def _form_data(environment, **overrides) -> dict:
    """What the browser posts for a new component; unchecked boxes are simply absent."""
    data = {
        "name": "orders-db",
        "slug": "orders-db",
        "environment": environment.pk,
        "category": "database",
        "holds_state": "on",
        "mode": "bastion",
        "engine": "postgresql",
        "engine_version": "16.4",
        "heartbeat_period_seconds": "30",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        reverse("dashboard"),
        reverse("finding_list"),
        LIST,
        CREATE,
        reverse("component_detail", args=[1]),
        reverse("component_edit", args=[1]),
    ],
)
def test_every_page_sends_an_anonymous_user_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


def test_anonymous_delete_is_sent_to_log_in_and_deletes_nothing(client):
    component = ImmutableComponentFactory()
    response = client.post(reverse("component_delete", args=[component.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Component.objects.filter(pk=component.pk).exists()


# --- the list -------------------------------------------------------------------------------


@pytest.fixture
def estate():
    staging = EnvironmentFactory(name="Staging", slug="staging", is_production=False)
    payments = TeamFactory(name="Payments", slug="payments")
    return {
        "api": ImmutableComponentFactory(name="orders-api", description="Takes orders"),
        "worker": ImmutableComponentFactory(name="ledger-worker", team=payments),
        "staging-api": ImmutableComponentFactory(name="orders-api-staging", environment=staging),
        "db": BastionComponentFactory(name="orders-db"),
        "cache": BastionComponentFactory(name="session-cache", category="cache", engine="redis"),
    }


def test_list_shows_every_component_by_name(client, viewer, estate):
    client.force_login(viewer)
    response = client.get(LIST)
    assert response.status_code == 200
    assert _names(response.content) == sorted(c.name for c in estate.values())
    assert parse(response.content).find(class_="card-title").text == "5 components"


def test_list_filters_on_mode(client, viewer, estate):
    client.force_login(viewer)
    rows = table_rows(client.get(LIST, {"mode": "bastion"}).content, data_testid="component-table")

    assert len(rows) == 2
    assert {row[1] for row in rows} == {"Bastion"}
    assert _names(client.get(LIST, {"mode": "bastion"}).content) == ["orders-db", "session-cache"]


def test_list_filters_on_environment(client, viewer, estate):
    client.force_login(viewer)
    assert _names(client.get(LIST, {"environment": "staging"}).content) == ["orders-api-staging"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("orders", ["orders-api", "orders-api-staging", "orders-db"]),
        ("takes ORDERS", ["orders-api"]),
        ("payments", ["ledger-worker"]),
    ],
)
def test_list_searches_name_description_and_team(client, viewer, estate, q, expected):
    client.force_login(viewer)
    assert _names(client.get(LIST, {"q": q}).content) == expected


def test_list_combines_filters(client, viewer, estate):
    client.force_login(viewer)
    assert _names(client.get(LIST, {"q": "orders", "mode": "immutable", "environment": "production"}).content) == [
        "orders-api"
    ]


def test_list_without_match_shows_an_empty_state(client, viewer, estate):
    client.force_login(viewer)
    page = parse(client.get(LIST, {"q": "no-such-thing"}).content)
    assert "No component matches" in page.find(class_="empty").text
    assert not page.find_all("table")


def test_list_sorts_by_instance_count(client, viewer):
    few, many, none = (ImmutableComponentFactory(name=name) for name in ("few", "many", "none"))
    InstanceFactory.create_batch(1, component=few)
    InstanceFactory.create_batch(3, component=many)
    client.force_login(viewer)

    response = client.get(LIST, {"ordering": "-instances"})

    assert _names(response.content) == ["many", "few", "none"]
    assert [row[7] for row in table_rows(response.content, data_testid="component-table")] == ["3", "1", "0"]
    header = parse(response.content).find("a", aria_sort="descending")
    assert header.text == "Instances"
    assert "ordering=instances" in header.attrs["href"]


def test_list_paginates_with_the_chosen_page_size(client, viewer):
    ImmutableComponentFactory.create_batch(30)
    client.force_login(viewer)

    first = client.get(LIST, {"per_page": "25"})
    second = client.get(LIST, {"per_page": "25", "page": "2"})
    everything = client.get(LIST, {"per_page": "50"})

    assert len(_names(first.content)) == 25
    assert "Showing 1–25 of 30" in parse(first.content).find(class_="card-footer").text
    assert len(_names(second.content)) == 5
    assert set(_names(first.content)).isdisjoint(_names(second.content))
    assert len(_names(everything.content)) == 30


def test_htmx_request_gets_only_the_results(client, viewer, estate):
    client.force_login(viewer)
    response = client.get(LIST, {"mode": "bastion"}, headers={"HX-Request": "true"})
    html = response.content.decode()

    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="component-filters"' not in html
    assert _names(html) == ["orders-db", "session-cache"]
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client, viewer, estate):
    """Back after an HTMX filter: htmx re-fetches the pushed URL and swaps the whole body."""
    client.force_login(viewer)
    response = client.get(
        LIST, {"mode": "bastion"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()
    assert parse(response.content).find("form", id="component-filters")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"mode": "sideways"}, "mode"), ({"environment": "nowhere"}, "environment"), ({"ordering": "owner"}, "ordering")],
)
def test_invalid_filter_shows_an_error_instead_of_crashing(client, viewer, estate, params, field):
    client.force_login(viewer)
    response = client.get(LIST, params)

    assert response.status_code == 200
    alert = parse(response.content).find(id="results").find(role="alert").text
    assert field in alert.lower()
    assert "Select a valid choice" in alert


# --- the detail page ------------------------------------------------------------------------


def test_detail_shows_instances_images_dependencies_and_findings(client, viewer):
    api = ImmutableComponentFactory(name="orders-api", ssh_enabled=True)
    db = BastionComponentFactory(name="orders-db")
    web = ImmutableComponentFactory(name="web-frontend")
    api.depends_on.add(db)
    web.depends_on.add(api)
    image = ImageFactory(component=api, version="2.3.0")
    api.current_image = image
    api.save()
    InstanceFactory(component=api, external_id="i-0abc", image=image)
    client.force_login(viewer)

    response = client.get(reverse("component_detail", args=[api.pk]))

    assert response.status_code == 200
    instances = table_rows(_card(response.content, "Instances"))
    assert [row[:3] for row in instances] == [["i-0abc", "Running", "2.3.0"]]
    assert table_rows(_card(response.content, "Images"))[0][0] == "2.3.0"
    dependencies = _card(response.content, "Dependencies").find_all("ul")
    assert [a.text for a in dependencies[0].find_all("a")] == ["orders-db"]
    assert [a.text for a in dependencies[1].find_all("a")] == ["web-frontend"]
    findings = parse(response.content).find(data_testid="component-findings").text
    assert "SSH or config management on an immutable component" in findings


def test_detail_of_a_clean_component_says_it_keeps_every_principle(client, viewer):
    component = ImmutableComponentFactory()
    client.force_login(viewer)
    response = client.get(reverse("component_detail", args=[component.pk]))
    assert "keeps every principle" in _card(response.content, "Findings").text


@pytest.mark.parametrize("view", ["component_detail", "component_edit"])
def test_unknown_component_is_404(client, admin_user, view):
    client.force_login(admin_user)
    response = client.get(reverse(view, args=[999999]))
    assert response.status_code == 404


def test_unknown_component_page_says_what_is_missing(client, viewer):
    client.force_login(viewer)
    response = client.get(reverse("component_detail", args=[999999]))
    assert "There is no component 999999." in parse(response.content).find(class_="empty").text


def test_viewer_sees_no_edit_button(client, viewer, editor):
    component = ImmutableComponentFactory()
    edit = reverse("component_edit", args=[component.pk])
    client.force_login(viewer)
    assert not parse(client.get(component.get_absolute_url()).content).find_all("a", href=edit)
    client.force_login(editor)
    assert parse(client.get(component.get_absolute_url()).content).find_all("a", href=edit)


# --- create, edit, delete -------------------------------------------------------------------


def test_viewer_may_not_create(client, viewer):
    client.force_login(viewer)
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, _form_data(EnvironmentFactory())).status_code == 403
    assert not Component.objects.exists()


def test_operator_gets_the_form(client, editor):
    client.force_login(editor)
    response = client.get(CREATE)
    page = parse(response.content)

    assert response.status_code == 200
    assert page.find("form", id="component-form")
    assert page.find("input", type="radio", name="mode", value="immutable").attrs.get("checked") is not None
    assert page.find("select", name="environment")


def test_stateful_component_cannot_be_created_immutable(client, editor):
    environment = EnvironmentFactory()
    client.force_login(editor)

    response = client.post(CREATE, _form_data(environment, mode="immutable", provider="sandbox", engine=None))

    assert response.status_code == 200
    page = parse(response.content)
    assert page.find(id="id_mode_error").text == STATEFUL_IMMUTABLE_MESSAGE
    assert "is-invalid" in page.find("input", name="mode", value="immutable").attrs["class"]
    assert page.find(data_testid="form-errors")
    assert page.find("input", name="name").attrs["value"] == "orders-db"
    assert not Component.objects.exists()


def test_valid_post_creates_the_component_and_shows_it(client, editor):
    environment = EnvironmentFactory()
    client.force_login(editor)

    response = client.post(CREATE, _form_data(environment))

    component = Component.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("component_detail", args=[component.pk])
    assert (component.name, component.mode, component.holds_state, component.engine) == (
        "orders-db",
        "bastion",
        True,
        "postgresql",
    )
    page = parse(client.get(response["Location"]).content)
    assert "orders-db" in page.find("h1").text
    assert "Component orders-db created." in page.find(role="alert").text


def test_create_records_dependencies(client, editor):
    db = BastionComponentFactory(name="orders-db")
    client.force_login(editor)

    data = _form_data(
        db.environment,
        name="orders-api",
        slug="orders-api",
        category="service",
        holds_state=None,
        mode="immutable",
        provider="sandbox",
        engine=None,
        engine_version=None,
        depends_on=[db.pk],
    )
    response = client.post(CREATE, data)

    assert response.status_code == 302
    assert list(Component.objects.get(slug="orders-api").depends_on.all()) == [db]


def test_operator_edits_a_component(client, editor):
    component = BastionComponentFactory(name="orders-db", slug="orders-db")
    edit = reverse("component_edit", args=[component.pk])
    client.force_login(editor)

    form = parse(client.get(edit).content)
    assert form.find("input", name="name").attrs["value"] == "orders-db"

    response = client.post(edit, _form_data(component.environment, engine_version="17.0", description="Orders"))

    assert response.status_code == 302
    assert response["Location"] == component.get_absolute_url()
    component.refresh_from_db()
    assert (component.engine_version, component.description) == ("17.0", "Orders")


def test_editing_a_bastion_into_immutable_is_refused_next_to_mode(client, editor):
    component = BastionComponentFactory(name="orders-db", slug="orders-db")
    client.force_login(editor)

    response = client.post(
        reverse("component_edit", args=[component.pk]),
        _form_data(component.environment, mode="immutable", provider="sandbox", engine=None, engine_version=None),
    )

    assert parse(response.content).find(id="id_mode_error").text == STATEFUL_IMMUTABLE_MESSAGE
    component.refresh_from_db()
    assert component.mode == "bastion"


def test_viewer_may_not_edit(client, viewer):
    component = BastionComponentFactory()
    client.force_login(viewer)
    assert client.get(reverse("component_edit", args=[component.pk])).status_code == 403


def test_delete_needs_the_delete_permission(client, editor):
    component = ImmutableComponentFactory()
    client.force_login(editor)

    assert client.post(reverse("component_delete", args=[component.pk])).status_code == 403
    assert Component.objects.filter(pk=component.pk).exists()
    edit_page = parse(client.get(reverse("component_edit", args=[component.pk])).content)
    assert not edit_page.find_all("form", action=reverse("component_delete", args=[component.pk]))


def test_delete_needs_post(client, admin_user):
    component = ImmutableComponentFactory()
    client.force_login(admin_user)
    assert client.get(reverse("component_delete", args=[component.pk])).status_code == 405
    assert Component.objects.filter(pk=component.pk).exists()


def test_admin_deletes_a_component(client, admin_user):
    component = ImmutableComponentFactory(name="orders-api")
    InstanceFactory(component=component)
    client.force_login(admin_user)

    response = client.post(reverse("component_delete", args=[component.pk]))

    assert response.status_code == 302
    assert response["Location"] == LIST
    assert not Component.objects.exists()
    assert "Component orders-api deleted." in parse(client.get(LIST).content).find(role="alert").text
