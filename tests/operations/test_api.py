from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from estate.operations.choices import OperationState
from estate.operations.models import Operation, RemediationPolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/operations/"


@pytest.fixture
def dispatched(monkeypatch):
    from estate.operations import services

    sent = []
    monkeypatch.setattr(services, "dispatch", sent.append)
    return sent


def test_post_starts_an_operation_and_answers_202_with_the_row(
    api, component, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            URL,
            {
                "kind": "roll_component",
                "component": component.pk,
                "params": {"batch_size": 2},
                "reason": "new base image",
            },
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["state"] == "queued" and body["params"] == {"batch_size": 2} and body["requested_by"] == "admin"
    assert dispatched == [body["id"]]


def test_refusal_on_a_bastion_has_the_error_shape(api, bastion):
    response = api.post(URL, {"kind": "rebuild_image", "component": bastion.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert "bastion" in body["detail"] and body["errors"]["component"] == [body["detail"]]


def test_forced_operation_needs_a_reason_through_the_api(api, dispatched):
    from tests.operations.conftest import make_component

    component = make_component(heartbeat_period_seconds=None)
    response = api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json")
    assert response.status_code == 400 and "forced" in response.json()["errors"]
    response = api.post(
        URL,
        {"kind": "roll_component", "component": component.pk, "forced": True, "force_reason": "agent broken"},
        format="json",
    )
    assert response.status_code == 202 and response.json()["force_reason"] == "agent broken"


def test_second_active_operation_is_a_409(api, component, dispatched):
    api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json")
    response = api.post(URL, {"kind": "rebuild_image", "component": component.pk}, format="json")
    assert response.status_code == 409 and "in progress" in response.json()["detail"]


def test_detail_has_the_steps_and_list_filters_by_state(api, component, dispatched):
    op_id = api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json").json()["id"]
    detail = api.get(f"{URL}{op_id}/").json()
    assert detail["steps"][0]["message"].startswith("Requested by admin")
    assert api.get(URL, {"state": "queued"}).json()["count"] == 1
    assert api.get(URL, {"state": "succeeded"}).json()["count"] == 0


def test_cancel_and_resume_actions(api, component, dispatched):
    op_id = api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json").json()["id"]
    response = api.post(f"{URL}{op_id}/resume/")
    assert response.status_code == 409 and "not paused" in response.json()["detail"]
    Operation.objects.filter(pk=op_id).update(state=OperationState.PAUSED)
    assert api.post(f"{URL}{op_id}/resume/").json()["state"] == "queued"
    response = api.post(f"{URL}{op_id}/cancel/")
    assert response.status_code == 202 and response.json()["state"] == "cancelled"


def test_a_script_starts_and_polls_until_done(token_api, component, django_capture_on_commit_callbacks, settings):
    from estate.celery import app

    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            op_id = token_api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json").json()[
                "id"
            ]
    finally:
        app.conf.task_always_eager = False
    body = token_api.get(f"{URL}{op_id}/").json()
    assert body["state"] == "succeeded" and body["percent"] == 100


def test_viewer_reads_but_cannot_start(viewer_api, component):
    assert viewer_api.get(URL).status_code == 200
    response = viewer_api.post(URL, {"kind": "roll_component", "component": component.pk}, format="json")
    assert response.status_code == 403


def test_user_with_add_operation_may_start(component, dispatched):
    from django.contrib.auth.models import Permission

    user = UserFactory(username="deployer")
    user.user_permissions.add(Permission.objects.get(codename="add_operation"))
    client = APIClient()
    client.force_authenticate(user)
    assert client.post(URL, {"kind": "rebuild_image", "component": component.pk}, format="json").status_code == 202


def test_policy_api_and_close_breaker(api, component):
    response = api.post(
        "/api/v1/remediation-policies/", {"component": component.pk, "replace_tainted": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    policy = RemediationPolicy.objects.get()
    RemediationPolicy.objects.filter(pk=policy.pk).update(breaker_reason="x", breaker_open_since="2026-01-01T00:00Z")
    body = api.post(f"/api/v1/remediation-policies/{policy.pk}/close-breaker/").json()
    assert body["breaker_open_since"] is None and body["breaker_reason"] == ""


def test_unknown_kind_is_a_field_error(api, component):
    response = api.post(URL, {"kind": "ssh_in", "component": component.pk}, format="json")
    assert response.status_code == 400 and "kind" in response.json()["errors"]


def test_provider_config_shows_the_secrets_name_never_its_value(api, component, monkeypatch, settings):
    monkeypatch.setenv("ESTATE_CI_SECRET", "do-not-show-me")
    settings.PROVIDER_SECRET_SCOPES = f"ESTATE_CI_SECRET=team:{component.team.slug}"
    response = api.post(
        "/api/v1/provider-configs/",
        {"component": component.pk, "settings": {"url": "https://ci.example/hook"}, "secret_env": "ESTATE_CI_SECRET"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["secret_configured"] is True
    listing = api.get("/api/v1/provider-configs/").content.decode()
    assert "do-not-show-me" not in listing and "ESTATE_CI_SECRET" in listing
    bad = api.post("/api/v1/provider-configs/", {"component": component.pk, "secret_env": "not a name"}, format="json")
    assert bad.status_code == 400


def test_a_provider_secret_must_be_an_estate_variable(api):
    """SECRET_KEY or DATABASE_URL must never become a webhook's signing key or a bearer token."""
    from estate.operations.models import ProviderConfig
    from tests.factories import ImmutableComponentFactory

    component = ImmutableComponentFactory()
    response = api.post(
        "/api/v1/provider-configs/", {"component": component.pk, "secret_env": "SECRET_KEY"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "secret_env" in response.json()["errors"]
    assert not ProviderConfig.objects.filter(component=component).exists()


def test_the_schema_says_an_operation_may_have_no_requester(api):
    """Operations a policy or the system started have `requested_by: null`; the schema said a string."""
    schema = api.get("/api/schema/?format=json").json()
    assert schema["components"]["schemas"]["Operation"]["properties"]["requested_by"]["nullable"] is True


@pytest.mark.parametrize("value", ["-3.290835126084349e+147", "1.5", "0", str(2**63)])
def test_a_component_filter_no_id_can_be_is_a_400_naming_it(api, value):
    """Found by schemathesis on SQLite: a huge number reached the database and was a 500."""
    response = api.get(URL, {"component": value})
    assert response.status_code == 400 and "component" in response.json()["errors"]
