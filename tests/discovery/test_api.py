"""/api/v1/discovery/: wiring, who may, error bodies; the sync action's run done by the task."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from estate.access import roles
from estate.celery import app as celery_app
from estate.discovery.choices import RunState
from estate.discovery.models import DiscoverySource, SyncRun
from tests.conftest import user_with_role
from tests.discovery.conftest import KEY_VARIABLE, SECRET_VARIABLE

pytestmark = pytest.mark.django_db
SOURCES = "/api/v1/discovery/sources/"


def body(**changes) -> dict:
    return {
        "name": "aws-prod",
        "kind": "aws",
        "regions": ["eu-west-1", "us-east-1"],
        "access_key_id_env": "ESTATE_AWS_KEY_ID",
        "secret_access_key_env": "ESTATE_AWS_SECRET",
        "tag_keys": {"team": "owner"},
        "interval_minutes": 30,
    } | changes


def test_an_admin_creates_a_source_holding_variable_names_only(api):
    answer = api.post(SOURCES, body(), format="json")
    assert answer.status_code == 201, answer.json()
    source = DiscoverySource.objects.get()
    assert (source.access_key_id_env, source.regions) == ("ESTATE_AWS_KEY_ID", ["eu-west-1", "us-east-1"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_key_id_env", "AWS_SECRET_ACCESS_KEY"),
        ("secret_access_key_env", "DATABASE_URL"),
        ("session_token_env", "estate_lower"),
        ("regions", "eu-west-1"),
        ("regions", []),
        ("regions", ["eu-west-1", "Not A Region"]),
        ("tag_keys", {"owner": "team"}),
        ("tag_keys", ["team"]),
        ("interval_minutes", 1),
        ("kind", "gcp"),
        ("namespaces", ["shop"]),
        ("token_env", "ESTATE_K8S_TOKEN"),
        ("endpoint_url", "not a url"),
    ],
)
def test_bad_input_is_refused_naming_the_field(api, field, value):
    answer = api.post(SOURCES, body(**{field: value}), format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["errors"], answer.json()
    assert not DiscoverySource.objects.exists()


def test_viewers_read_sources_but_only_admins_write_them(viewer_api, source):
    assert viewer_api.get(SOURCES).status_code == 200
    assert viewer_api.post(SOURCES, body(), format="json").status_code == 403
    assert viewer_api.post(f"{SOURCES}{source.pk}/sync/").status_code == 403
    assert viewer_api.get("/api/v1/discovery/runs/").status_code == 200


def test_a_scoped_admin_is_refused_a_source(db, source):
    from estate.inventory.models import Team

    scoped = user_with_role("scoped-admin", roles.ADMIN)
    roles.grant(scoped, roles.ADMIN, teams=[Team.objects.create(name="web", slug="web")])
    client = APIClient()
    client.force_authenticate(scoped)
    answer = client.post(SOURCES, body(), format="json")
    assert answer.status_code == 403 and not DiscoverySource.objects.filter(name="aws-prod").exists()


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_sync_answers_202_with_the_run_and_the_task_fills_it_in(
    api, aws, source, eager_celery, django_capture_on_commit_callbacks
):
    aws.table("carts", "eu-west-1")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"{SOURCES}{source.pk}/sync/")
    assert answer.status_code == 202
    assert answer.json()["state"] == RunState.QUEUED and answer.json()["source"] == "aws-test"
    run = SyncRun.objects.get(pk=answer.json()["id"])
    assert (run.state, run.created, run.requested_by.username) == (RunState.SUCCEEDED, 1, "admin")
    listed = api.get("/api/v1/discovery/runs/", {"source": source.pk}).json()["results"]
    assert [r["id"] for r in listed] == [run.pk] and listed[0]["report"]["component"]["created"] == 1


def test_a_disabled_source_is_not_synced(api, source):
    source.enabled = False
    source.save()
    answer = api.post(f"{SOURCES}{source.pk}/sync/")
    assert answer.status_code == 409 and "enabled" in answer.json()["errors"]


def test_credential_variable_names_are_shown_never_values(api, source, monkeypatch):
    monkeypatch.setenv(SECRET_VARIABLE, "super-secret-value")
    answer = api.get(f"{SOURCES}{source.pk}/")
    assert answer.json()["secret_access_key_env"] == SECRET_VARIABLE
    assert "super-secret-value" not in answer.content.decode()
    assert answer.json()["access_key_id_env"] == KEY_VARIABLE
