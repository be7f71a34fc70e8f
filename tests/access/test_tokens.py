"""Personal API tokens: shown once, stored hashed, scoped, expiring, revocable from the UI and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from estate.access.models import ApiToken
from tests.conftest import api_token, token_client
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/tokens/"


def _in_future(days=30) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def _bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_create_shows_the_secret_once_and_stores_only_its_hash(api):
    created = api.post(URL, {"name": "deploy", "scope": "read", "expires_at": _in_future()}, format="json")
    assert created.status_code == 201, created.json()
    secret = created.json()["token"]
    assert secret.startswith("estp_") and len(secret) > 40
    listed = api.get(URL).json()["results"]
    assert [t["name"] for t in listed] == ["deploy"] and "token" not in listed[0]
    assert api.get(f"{URL}{created.json()['id']}/").json().get("token") is None
    with connection.cursor() as cursor:  # the secret is nowhere in the row
        cursor.execute("SELECT * FROM access_apitoken")
        assert not any(secret in str(value) for value in cursor.fetchone())
    assert _bearer(secret).get("/api/v1/components/").status_code == 200


def test_a_token_acts_as_its_owner_and_records_its_use(viewer):
    token = ApiToken.objects.get(key_hash=ApiToken.hash(secret := api_token(viewer, "write")))
    assert token.last_used_at is None
    client = _bearer(secret)
    assert client.get("/api/v1/components/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    # The viewer's role has no right to create components, whatever the token's scope.
    refused = client.post("/api/v1/teams/", {"name": "T", "slug": "t"}, format="json")
    assert refused.status_code == 403


def test_read_token_only_reads(admin_user):
    client = token_client(admin_user, "read")
    assert client.get("/api/v1/teams/").status_code == 200
    refused = client.post("/api/v1/teams/", {"name": "T", "slug": "t"}, format="json")
    assert refused.status_code == 403 and refused.json()["detail"] == "This token is read-only."


def test_write_token_writes(admin_user):
    assert token_client(admin_user, "write").post("/api/v1/teams/", {"name": "T", "slug": "t"}).status_code == 201


def test_ingest_token_only_sends_telemetry(estate_admin):
    client = token_client(estate_admin, "ingest")
    refused = client.get("/api/v1/components/")
    assert refused.status_code == 403 and "only send telemetry" in refused.json()["detail"]
    component = ImmutableComponentFactory()
    batch = {"items": [{"type": "heartbeat", "component": component.pk}]}
    sent = client.post("/api/v1/telemetry/", batch, format="json")
    assert sent.status_code in (200, 201, 202), sent.json()


def test_feed_token_opens_no_api_view(admin_user):
    refused = token_client(admin_user, "feed").get("/api/v1/components/")
    assert refused.status_code == 403 and "calendar feed" in refused.json()["detail"]


def test_expired_revoked_and_deactivated_tokens_are_refused(admin_user, viewer):
    expired = api_token(admin_user, "read")
    ApiToken.objects.filter(key_hash=ApiToken.hash(expired)).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = api_token(admin_user, "read")
    ApiToken.objects.filter(key_hash=ApiToken.hash(revoked)).update(revoked_at=timezone.now())
    owner_gone = api_token(viewer, "read")
    viewer.is_active = False
    viewer.save()
    for secret in (expired, revoked, owner_gone, "estp_not-a-real-token"):
        response = _bearer(secret).get("/api/v1/components/")
        assert response.status_code == 401, secret
        assert response.json()["detail"] == "Unknown, expired or revoked API token."
        assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("expires", "message"),
    [(-1, "The expiry must be in the future."), (400, "A token may live 365 days at most; renew it then.")],
)
def test_expiry_is_required_and_bounded(api, expires, message):
    response = api.post(URL, {"name": "x", "scope": "read", "expires_at": _in_future(expires)}, format="json")
    assert response.status_code == 400 and response.json()["errors"] == {"expires_at": [message]}
    missing = api.post(URL, {"name": "x", "scope": "read"}, format="json")
    assert missing.status_code == 400 and "expires_at" in missing.json()["errors"]
    assert not ApiToken.objects.exists()


def test_names_are_unique_among_active_tokens(api):
    body = {"name": "ci", "scope": "read", "expires_at": _in_future()}
    first = api.post(URL, body, format="json").json()
    again = api.post(URL, body, format="json")
    assert again.status_code == 400 and "already have an active token" in again.json()["detail"]
    assert api.post(f"{URL}{first['id']}/revoke/").json()["status"] == "revoked"
    assert api.post(URL, body, format="json").status_code == 201


def test_revoked_through_the_api_stops_working_at_once(api):
    created = api.post(URL, {"name": "ci", "scope": "read", "expires_at": _in_future()}, format="json").json()
    client = _bearer(created["token"])
    assert client.get("/api/v1/teams/").status_code == 200
    api.post(f"{URL}{created['id']}/revoke/")
    assert client.get("/api/v1/teams/").status_code == 401


def test_people_see_and_revoke_only_their_own_tokens_admins_everyones(viewer, operator, estate_admin):
    api_token(viewer, "read")
    theirs = ApiToken.objects.get(user=viewer)
    api_token(operator, "read")
    operator_api = token_client(operator, "write")
    names = {t["owner"] for t in operator_api.get(URL).json()["results"]}
    assert names == {"operator"}
    assert operator_api.post(f"{URL}{theirs.pk}/revoke/").status_code == 404
    admin_api = token_client(estate_admin, "write")
    assert {t["owner"] for t in admin_api.get(URL).json()["results"]} >= {"viewer", "operator"}
    assert admin_api.post(f"{URL}{theirs.pk}/revoke/").status_code == 200


def test_only_people_who_may_send_telemetry_get_an_ingest_token(viewer_api):
    body = {"name": "agent", "scope": "ingest", "expires_at": _in_future()}
    response = viewer_api.post(URL, body, format="json")
    assert response.status_code == 400 and "scope" in response.json()["errors"]


def test_a_token_cannot_mint_tokens_beyond_read_when_it_is_read_only(admin_user):
    body = {"name": "escalate", "scope": "write", "expires_at": _in_future()}
    assert token_client(admin_user, "read").post(URL, body, format="json").status_code == 403


# --- the page ------------------------------------------------------------------------------


def test_page_creates_shows_once_and_revokes(client, viewer):
    client.force_login(viewer)
    page = client.post("/account/tokens/", {"name": "laptop", "scope": "read", "lifetime": "30"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("estp_") and secret in page.content.decode()
    again = client.get("/account/tokens/")
    assert secret not in again.content.decode() and "laptop" in again.content.decode()
    token = ApiToken.objects.get(user=viewer)
    assert token.expires_at - timezone.now() > timedelta(days=29)
    client.post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.status == "revoked"
    assert _bearer(secret).get("/api/v1/teams/").status_code == 401


def test_page_reports_errors_at_the_field(client, viewer):
    client.force_login(viewer)
    client.post("/account/tokens/", {"name": "laptop", "scope": "read", "lifetime": "30"})
    twice = client.post("/account/tokens/", {"name": "laptop", "scope": "read", "lifetime": "30"})
    assert twice.status_code == 400 and "already have an active token" in twice.content.decode()
    ingest = client.post("/account/tokens/", {"name": "agent", "scope": "ingest", "lifetime": "30"})
    assert ingest.status_code == 400 and ingest.context["form"].errors["scope"]
    bad = client.post("/account/tokens/", {"name": "", "scope": "root", "lifetime": "9999"})
    assert set(bad.context["form"].errors) == {"name", "scope", "lifetime"}
    assert ApiToken.objects.filter(user=viewer).count() == 1


def test_nobody_revokes_someone_elses_token_from_the_page(client, viewer, operator):
    api_token(viewer, "read")
    client.force_login(operator)
    token = ApiToken.objects.get(user=viewer)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.status == "active"
