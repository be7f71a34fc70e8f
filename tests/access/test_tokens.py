"""Personal API tokens: shown once, stored hashed, scoped, expiring, revocable from the UI and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from estate.access import roles
from estate.access import services as access_services
from estate.access.models import AccessScope, ApiToken
from tests.conftest import api_token, token_client, user_with_role
from tests.factories import ImmutableComponentFactory, TeamFactory, UserFactory

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


# --- a token may not make a stronger token, nor manage other people's (issue 15, item 13) ------


def _short_write_token(user, hours: int = 2) -> tuple[ApiToken, APIClient]:
    token, secret = access_services.token_create(
        user=user, name="short", scope="write", expires_at=timezone.now() + timedelta(hours=hours)
    )
    return token, _bearer(secret)


def test_a_token_made_with_a_token_may_not_outlive_it(estate_admin):
    parent, client = _short_write_token(estate_admin)
    body = {"name": "long", "scope": "read", "expires_at": _in_future(365)}
    refused = client.post(URL, body, format="json")
    assert refused.status_code == 400
    message = refused.json()["errors"]["expires_at"][0]
    assert "may not outlive it" in message and parent.expires_at.strftime("%Y-%m-%dT%H:%M:%S") in message
    assert ApiToken.objects.filter(user=estate_admin).count() == 1
    within = {**body, "expires_at": (parent.expires_at - timedelta(minutes=5)).isoformat()}
    assert client.post(URL, within, format="json").status_code == 201


def test_a_feed_made_with_a_token_expires_with_it(estate_admin):
    parent, client = _short_write_token(estate_admin)
    created = client.post("/api/v1/feed-tokens/", {"name": "calendar"}, format="json")
    assert created.status_code == 201, created.json()
    feed_token = ApiToken.objects.get(scope="feed")
    assert feed_token.expires_at <= parent.expires_at


def test_a_token_may_not_make_a_token_of_a_wider_scope(estate_admin):
    parent, _ = access_services.token_create(
        user=estate_admin, name="reader", scope="read", expires_at=timezone.now() + timedelta(days=1)
    )
    with pytest.raises(ValidationError) as refused:
        access_services.token_create(
            user=estate_admin, name="w", scope="write", expires_at=timezone.now() + timedelta(hours=1), parent=parent
        )
    assert "read" in refused.value.message_dict["scope"][0]


def test_a_session_may_still_make_a_long_token(api):
    body = {"name": "long", "scope": "read", "expires_at": _in_future(300)}
    assert api.post(URL, body, format="json").status_code == 201


def test_a_limited_admin_sees_and_revokes_only_their_own_tokens(admin_user, viewer):
    team = TeamFactory()
    limited = user_with_role("admin-a", roles.ADMIN)
    AccessScope.objects.create(user=limited).teams.add(team)
    api_token(admin_user, "read")
    api_token(viewer, "read")
    client = token_client(limited, "write")
    assert {t["owner"] for t in client.get(URL).json()["results"]} == {"admin-a"}
    superusers = ApiToken.objects.get(user=admin_user)
    assert client.post(f"{URL}{superusers.pk}/revoke/").status_code == 404
    with pytest.raises(PermissionDenied):
        access_services.token_revoke(token=superusers, actor=limited)
    superusers.refresh_from_db()
    assert superusers.status == "active"


def test_only_a_superuser_revokes_a_superusers_token(admin_user, estate_admin):
    api_token(admin_user, "read")
    superusers = ApiToken.objects.get(user=admin_user)
    refused = token_client(estate_admin, "write").post(f"{URL}{superusers.pk}/revoke/")
    assert refused.status_code == 403 and refused.json()["detail"] == "Only a superuser may revoke a superuser's token."
    superusers.refresh_from_db()
    assert superusers.status == "active"
    other = UserFactory(username="root2", is_superuser=True)
    assert token_client(other, "write").post(f"{URL}{superusers.pk}/revoke/").status_code == 200


def test_the_admin_sites_revoke_action_keeps_the_same_rule(client, admin_user, estate_admin):
    api_token(admin_user, "read")
    superusers = ApiToken.objects.get(user=admin_user)
    client.force_login(estate_admin)
    data = {"action": "revoke", "_selected_action": [superusers.pk]}
    response = client.post("/admin/access/apitoken/", data, follow=True)
    assert response.status_code == 200 and "Only a superuser may revoke" in response.content.decode()
    superusers.refresh_from_db()
    assert superusers.status == "active"
