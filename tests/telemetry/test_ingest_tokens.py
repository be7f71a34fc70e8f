from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from estate.telemetry.models import IngestToken
from tests.factories import ImmutableComponentFactory, SystemFactory, TeamFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db


def _heartbeat():
    return [{"type": "heartbeat", "component": ImmutableComponentFactory().pk}]


def test_an_ingest_token_writes_telemetry(shipper, ingest_token):
    assert shipper.post(URL, _heartbeat(), format="json").status_code == 201
    ingest_token.refresh_from_db()
    assert ingest_token.last_used_at is not None


@pytest.mark.parametrize("path", ["/api/v1/components/", "/api/v1/health-changes/", "/api/v1/metric-rules/"])
def test_an_ingest_token_opens_nothing_else(shipper, path):
    assert shipper.get(path).status_code in (401, 403)


def test_an_ingest_token_cannot_read_the_ingest_endpoint_either(shipper):
    assert shipper.get(URL).status_code == 405


def test_only_the_hash_is_stored(ingest_token):
    assert ingest_token.raw not in ingest_token.token_hash
    assert IngestToken.objects.get().token_hash == IngestToken.hash(ingest_token.raw)


def test_a_revoked_or_unknown_token_is_refused(shipper, ingest_token):
    ingest_token.revoked_at = timezone.now()
    ingest_token.save()
    assert shipper.post(URL, _heartbeat(), format="json").status_code == 401
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer est_not-a-token")
    assert stranger.post(URL, _heartbeat(), format="json").status_code == 401


def test_no_credentials_is_401(db):
    response = APIClient().post(URL, [], format="json")
    assert response.status_code == 401 and response["WWW-Authenticate"]


def test_a_viewer_may_not_write_telemetry(viewer_api):
    assert viewer_api.post(URL, _heartbeat(), format="json").status_code == 403


def test_an_admin_may(api):
    assert api.post(URL, _heartbeat(), format="json").status_code == 201


def test_the_command_creates_a_token_and_prints_it_once():
    out = io.StringIO()
    call_command("create_ingest_token", "vector-prod", "--estate", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip()
    token = IngestToken.objects.get(name="vector-prod")
    assert raw.startswith("est_") and token.token_hash == IngestToken.hash(raw)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post(URL, _heartbeat(), format="json").status_code == 201


def test_the_admin_creates_a_token_and_shows_it_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/telemetry/ingesttoken/add/", {"name": "fluent-bit", "whole_estate": "on"},
                           follow=True)  # fmt: skip
    assert response.status_code == 200
    token = IngestToken.objects.get(name="fluent-bit")
    shown = [str(m) for m in response.context["messages"]]
    assert any(token.prefix in text and "not shown again" in text for text in shown)
    assert token.created_by == admin_user


def test_the_command_refuses_a_token_whose_scope_is_not_said():
    with pytest.raises(CommandError, match="--team SLUG, --system SLUG or --estate"):
        call_command("create_ingest_token", "vector-prod", stdout=io.StringIO(), stderr=io.StringIO())
    assert not IngestToken.objects.exists()


def test_the_command_limits_a_token_to_teams_and_systems():
    team, system = TeamFactory(slug="payments"), SystemFactory(slug="storefront")
    out = io.StringIO()
    call_command("create_ingest_token", "vector-pay", "--team", "payments", "--system", "storefront", stdout=out,
                 stderr=io.StringIO())  # fmt: skip
    token = IngestToken.objects.get(name="vector-pay")
    assert not token.whole_estate
    assert list(token.teams.all()) == [team] and list(token.systems.all()) == [system]


@pytest.mark.parametrize(
    "args, message",
    [(["--team", "nope"], "--team: no team nope"), (["--estate", "--team", "payments"], "not both")],
)
def test_the_command_refuses_unknown_slugs_and_a_mixed_scope(args, message):
    TeamFactory(slug="payments")
    with pytest.raises(CommandError, match=message):
        call_command("create_ingest_token", "x", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not IngestToken.objects.exists()


def test_the_admin_refuses_a_token_without_a_scope(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/telemetry/ingesttoken/add/", {"name": "fluent-bit"})
    assert response.status_code == 200
    assert "or the whole estate" in response.content.decode()
    assert not IngestToken.objects.exists()
