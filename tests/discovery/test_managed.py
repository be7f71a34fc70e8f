"""A source owns the fields it discovers: hand edits of them are refused (service, API, form) until the
component is detached; then the source leaves it alone. Syncs and people editing at once lose nothing."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from estate.audit.context import acting_as
from estate.audit.models import AuditEvent
from estate.discovery.choices import ObjectKind
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.discovery.observed import SeenComponent, SeenImage, SeenInstance
from estate.discovery.sync import SyncWriter
from estate.inventory import services as inventory
from estate.inventory.models import Component, Team
from tests.conftest import ON_POSTGRES
from tests.html_text import parse

pytestmark = pytest.mark.django_db
REFUSAL = "Managed by discovery:aws-test; detach it to edit."


def seen_group(desired: int = 2, name: str = "web", instances=("i-1", "i-2")) -> SeenComponent:
    return SeenComponent(
        key="eu-west-1/asg/web", kind=ObjectKind.ASG, region="eu-west-1", name=name, category="service",
        mode="immutable", provider="aws", desired_instances=desired, image=SeenImage("ami-1", "ami-1"),
        tags={"team": "shop"}, instances=[SeenInstance(i, image_version="ami-1") for i in instances],
    )  # fmt: skip


def sync(source: DiscoverySource, *seen: SeenComponent):
    with acting_as(source.actor_name, via="discovery"), transaction.atomic():
        return SyncWriter(source, account="123456789012", now=timezone.now()).write(list(seen), ["eu-west-1"])


@pytest.fixture
def source(db) -> DiscoverySource:
    return DiscoverySource.objects.create(name="aws-test", kind="aws", regions=["eu-west-1"], tag_keys={"team": "team"})


@pytest.fixture
def web(source) -> Component:
    sync(source, seen_group())
    return Component.objects.get(slug="web")


def record(component: Component) -> DiscoveredObject:
    return DiscoveredObject.objects.get(component=component)


# --- the rule, in the service every edit goes through ---------------------------------------


def test_a_hand_edit_of_a_managed_field_is_refused_naming_the_field_and_the_source(web):
    with pytest.raises(ValidationError) as refused:
        inventory.component_update(component=web, data={"name": "renamed", "desired_instances": 5})
    assert refused.value.message_dict == {"name": [REFUSAL], "desired_instances": [REFUSAL]}
    web.refresh_from_db()
    assert (web.name, web.desired_instances) == ("web", 2)


def test_the_peoples_fields_stay_editable_and_a_managed_field_sent_unchanged_is_no_edit(web):
    inventory.component_update(
        component=web, data={"description": "the shop front", "heartbeat_period_seconds": 60, "name": "web"}
    )
    web.refresh_from_db()
    assert (web.description, web.heartbeat_period_seconds, web.name) == ("the shop front", 60, "web")


def test_team_is_the_sources_only_when_it_reads_it_from_a_tag(source, web):
    DiscoverySource.objects.filter(pk=source.pk).update(tag_keys={})
    source.refresh_from_db()
    platform = Team.objects.create(name="Platform", slug="platform")
    inventory.component_update(component=web, data={"team": platform})
    sync(source, seen_group())
    web.refresh_from_db()
    assert web.team == platform


def test_a_component_no_source_found_is_edited_freely(db):
    from tests.factories import ImmutableComponentFactory

    component = ImmutableComponentFactory()
    inventory.component_update(component=component, data={"name": "anything"})
    assert Component.objects.get(pk=component.pk).name == "anything"


# --- the API ---------------------------------------------------------------------------------


def test_the_api_refuses_a_managed_field_with_400_and_shows_who_manages_what(api, web):
    refused = api.patch(f"/api/v1/components/{web.pk}/", {"name": "renamed"}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"] == {"name": [REFUSAL]}
    answer = api.patch(f"/api/v1/components/{web.pk}/", {"description": "notes"}, format="json")
    assert answer.status_code == 200
    managed = answer.json()["managed_by"]
    assert managed["owner"] == "discovery:aws-test" and managed["hint"] == "detach it to edit"
    assert {"name", "desired_instances", "team", "current_image"} <= set(managed["managed_fields"])
    assert "description" not in managed["managed_fields"] and "system" not in managed["managed_fields"]
    assert managed["detach_url"] == f"/api/v1/discovery/objects/{record(web).pk}/detach/"


def test_the_component_list_reads_every_owner_in_one_query(api, source, django_assert_max_num_queries):
    def listed() -> int:
        with django_assert_max_num_queries(50) as queries:
            body = api.get("/api/v1/components/?page_size=100").json()
        assert all(c["managed_by"]["owner"] == "discovery:aws-test" for c in body["results"])
        return len(queries.captured_queries)

    sync(source, seen_group())
    one = listed()
    sync(source, *[SeenComponent(**{**seen_group().__dict__, "key": f"k{n}", "name": f"web{n}"}) for n in range(6)])
    assert listed() == one


def test_detach_through_the_api_is_audited_and_gives_the_fields_back(api, web):
    answer = api.post(f"/api/v1/discovery/objects/{record(web).pk}/detach/")
    assert answer.status_code == 200 and answer.json()["detached_by"] == "admin"
    assert answer.json()["managed_fields"] == []
    event = AuditEvent.objects.get(object_id=str(web.pk), changes__has_key="managed_by")
    assert (event.actor, event.changes["managed_by"]) == ("admin", ["discovery:aws-test", None])
    renamed = api.patch(f"/api/v1/components/{web.pk}/", {"name": "renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["managed_by"] is None
    again = api.post(f"/api/v1/discovery/objects/{record(web).pk}/detach/")
    assert again.status_code == 400 and "already detached" in again.json()["errors"]["component"][0]


def test_an_instance_keeps_its_sources_fields_until_its_component_is_detached(api, web):
    instance = web.instances.get(external_id="i-1")
    url = f"/api/v1/instances/{instance.pk}/"
    refused = api.patch(url, {"state": "terminated", "zone": "elsewhere"}, format="json")
    expected = "Managed by discovery:aws-test; detach its component to edit."
    assert refused.status_code == 400 and refused.json()["errors"] == {"state": [expected], "zone": [expected]}
    tainted = api.patch(url, {"tainted": True, "taint_reason": "sshd session"}, format="json")
    assert tainted.status_code == 200 and tainted.json()["managed_by"]["managed_fields"] == [
        "address", "image", "state", "zone"
    ]  # fmt: skip
    api.post(f"/api/v1/discovery/objects/{record(web).pk}/detach/")
    freed = api.patch(url, {"state": "terminated"}, format="json")
    assert freed.status_code == 200 and freed.json()["managed_by"] is None


def test_a_viewer_cannot_detach(viewer_api, web):
    assert viewer_api.post(f"/api/v1/discovery/objects/{record(web).pk}/detach/").status_code == 403
    assert record(web).detached_at is None


# --- the source leaves a detached component alone --------------------------------------------


def test_after_detach_the_sync_leaves_the_component_and_its_instances_alone_and_says_so(api, source, web):
    api.post(f"/api/v1/discovery/objects/{record(web).pk}/detach/")
    api.patch(f"/api/v1/components/{web.pk}/", {"name": "hand-named", "desired_instances": 7}, format="json")
    report = sync(source, seen_group(desired=3, instances=("i-1", "i-3")))
    web.refresh_from_db()
    assert (web.name, web.desired_instances) == ("hand-named", 7)
    assert sorted(web.instances.values_list("external_id", "state")) == [("i-1", "running"), ("i-2", "running")]
    assert report.as_dict()["component"]["detached"] == 1 and report.messages == []
    assert report.total("updated") == report.total("created") == report.total("gone") == 0
    assert DiscoveredObject.objects.filter(gone_since__isnull=False).count() == 0
    report = sync(source)  # vanished from AWS: still not gone, the source no longer speaks for it
    assert report.total("gone") == 0 and Component.objects.filter(slug="web").exists()


def test_a_sync_writes_only_the_managed_columns(source, web):
    Component.objects.filter(pk=web.pk).update(description="typed meanwhile")  # after the sync read it
    sync(source, seen_group(desired=4))
    web.refresh_from_db()
    assert (web.desired_instances, web.description) == (4, "typed meanwhile")


# --- the form --------------------------------------------------------------------------------


@pytest.fixture
def signed_in(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_form_shows_managed_fields_disabled_with_the_reason(signed_in, web):
    page = parse(signed_in.get(f"/components/{web.pk}/edit/").content)
    name = page.find("input", name="name")
    assert "disabled" in name.attrs and name.attrs["data-managed"] == "discovery:aws-test"
    assert REFUSAL in page.text
    assert "disabled" not in page.find("textarea", name="description").attrs


def test_the_form_saves_the_peoples_fields_and_ignores_a_posted_managed_one(signed_in, web):
    page = signed_in.get(f"/components/{web.pk}/edit/")
    form = {k: v for k, v in page.context["form"].initial.items() if v is not None}
    form |= {"environment": web.environment_id, "name": "tampered", "description": "from the form", "tags": []}
    answer = signed_in.post(f"/components/{web.pk}/edit/", form)
    assert answer.status_code == 302, answer.context["form"].errors
    web.refresh_from_db()
    assert (web.name, web.description) == ("web", "from the form")


def test_the_component_page_offers_detach_and_detach_hands_the_fields_back(signed_in, web):
    page = parse(signed_in.get(web.get_absolute_url()).content)
    assert page.find(data_testid="managed-fields").text.startswith("name, category, mode")
    answer = signed_in.post(f"/discovery/components/{web.pk}/detach/")
    assert answer.status_code == 302 and record(web).detached_at is not None
    page = parse(signed_in.get(web.get_absolute_url()).content)
    assert "Detached by admin" in page.find(data_testid="detached").text
    assert not page.find_all(data_testid="detach")
    form = parse(signed_in.get(f"/components/{web.pk}/edit/").content)
    assert "disabled" not in form.find("input", name="name").attrs


# --- a sync and a person at once (PostgreSQL: real row locks between two connections) ---------


def _in_thread(work, errors: list) -> threading.Thread:
    def run():
        try:
            work()
        except Exception as exc:  # reported to the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_person_editing_while_a_sync_writes_loses_neither_write():
    """The person loaded the row before the sync committed; their save must not write the old managed
    values back, and the sync must not write the old description back."""
    assert ON_POSTGRES
    source = DiscoverySource.objects.create(name="aws-test", kind="aws", regions=["eu-west-1"], tag_keys={})
    sync(source, seen_group())
    web = Component.objects.get(slug="web")
    synced, release, errors = threading.Event(), threading.Event(), []

    def sync_and_hold():
        with acting_as(source.actor_name, via="discovery"), transaction.atomic():
            SyncWriter(source, account="1", now=timezone.now()).write([seen_group(desired=5)], ["eu-west-1"])
            synced.set()
            assert release.wait(10)  # holds its row locks, uncommitted, while the person saves

    syncing = _in_thread(sync_and_hold, errors)
    assert synced.wait(10)
    stale = Component.objects.get(pk=web.pk)  # what the person's request loaded: desired still 2
    assert stale.desired_instances == 2
    person = _in_thread(
        lambda: inventory.component_update(component=stale, data={"description": "typed at once"}), errors
    )
    person.join(0.5)
    assert person.is_alive()  # waits for the sync's lock rather than writing over it
    release.set()
    syncing.join(10)
    person.join(10)
    assert errors == []
    web.refresh_from_db()
    assert (web.desired_instances, web.description) == (5, "typed at once")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sync_while_a_person_saves_waits_and_keeps_the_persons_edit():
    source = DiscoverySource.objects.create(name="aws-test", kind="aws", regions=["eu-west-1"], tag_keys={})
    sync(source, seen_group())
    web = Component.objects.get(slug="web")
    edited, release, errors = threading.Event(), threading.Event(), []

    def edit_and_hold():
        with transaction.atomic():
            inventory.component_update(component=web, data={"description": "typed first"})
            edited.set()
            assert release.wait(10)

    person = _in_thread(edit_and_hold, errors)
    assert edited.wait(10)
    syncing = _in_thread(lambda: sync(source, seen_group(desired=6)), errors)
    syncing.join(0.5)
    assert syncing.is_alive()  # the sync's UPDATE waits for the person's row lock
    release.set()
    person.join(10)
    syncing.join(10)
    assert errors == []
    web.refresh_from_db()
    assert (web.desired_instances, web.description) == (6, "typed first")
