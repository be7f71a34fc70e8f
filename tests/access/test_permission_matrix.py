"""Who may do what, for every page and every API operation.

The operations are enumerated from the URL conf and the OpenAPI schema, so a new page or endpoint
lands in this matrix by itself: it gets the default expectation (reading needs a login, writing
the admin role) and fails here until it behaves so or its row below says otherwise.

Every object the requests name belongs to team B; "operator elsewhere" is an operator whose role
is limited to team A, so the operator's own rights must not reach those objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from estate.access import roles
from estate.access.models import AccessScope, AccessScopeTeam, ApiToken
from estate.audit.models import AuditEvent
from estate.discovery.models import DiscoveredObject, DiscoverySource, SyncRun
from estate.inventory.models import System, Team
from estate.notifications.models import NotificationRoute
from estate.operations import services as operation_services
from estate.operations.models import Operation, ProviderConfig, RemediationPolicy
from estate.outbox import services as outbox_services
from estate.outbox.choices import MessageState
from estate.outbox.models import OutboxMessage
from estate.patching import selectors as patching_selectors
from estate.patching.deadlines import VendorAction, proposals_refresh, vendor_deadlines_replace
from estate.patching.models import ChangeFreeze, Deadline
from estate.patching.services import feed_token_create, occurrence_materialise
from estate.runbooks.models import RunbookRun, RunbookTemplate, RunStep, WindowRunbook
from estate.telemetry.models import ComponentTelemetry, HealthChange, LogRule, MetricRule
from tests.conftest import api_token, user_with_role
from tests.factories import (
    BastionComponentFactory,
    ClusterFactory,
    IngestTokenFactory,
    TagFactory,
    TeamFactory,
    UserFactory,
)
from tests.operations.conftest import make_component
from tests.patching.conftest import make_window

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]

# What an operation needs.
PUBLIC = "public"  # nothing
SELF = "self"  # a person (their own tokens and feeds, the live conflict check)
READ = "read"  # a person, or a token that may read
OWN_READ = "own-read"  # read an object that belongs to the admin persona
OWN_WRITE = "own-write"  # change an object that belongs to the admin persona
OPERATE = "operate"  # the operator role, within its scope
OPERATE_NEW = "operate-new"  # the operator role, on a page that names no object yet
ADMIN = "admin"  # the admin role
INGEST = "ingest"  # send telemetry

PERSON = {PUBLIC, SELF, READ}
PERSONAS: dict[str, set[str]] = {
    "anonymous": {PUBLIC},
    "no role": {PUBLIC},  # logged in, but given no role yet
    "viewer": PERSON,
    "operator elsewhere": PERSON | {OPERATE_NEW},  # an operator, but every object here is out of their scope
    "operator": PERSON | {OPERATE, OPERATE_NEW},
    "admin": PERSON | {OPERATE, OPERATE_NEW, ADMIN, INGEST, OWN_READ, OWN_WRITE},
}
# The admin's tokens (API only): each opens no more than its scope.
TOKEN_PERSONAS: dict[str, set[str]] = {
    "read token": {PUBLIC, READ, OWN_READ},
    "write token": PERSONAS["admin"],
    "ingest token": {PUBLIC, INGEST},
    "feed token": {PUBLIC},
    "telemetry agent token": {PUBLIC, INGEST},
}

# --- the API -------------------------------------------------------------------------------

API_RULES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/telemetry/"): INGEST,
    ("POST", "/api/v1/telemetry/prometheus/write"): INGEST,
    ("POST", "/v1/metrics"): INGEST,
    ("POST", "/v1/logs"): INGEST,
    ("POST", "/api/v1/tokens/"): SELF,
    ("GET", "/api/v1/tokens/{id}/"): OWN_READ,
    ("POST", "/api/v1/tokens/{id}/revoke/"): OWN_WRITE,
    ("POST", "/api/v1/feed-tokens/"): SELF,
    ("POST", "/api/v1/feed-tokens/{id}/revoke/"): OWN_WRITE,
    ("POST", "/api/v1/patch-windows/conflicts-check/"): SELF,
    ("GET", "/api/v1/catalog/schema/"): PUBLIC,  # the catalog format, for editors: no data
    ("POST", "/api/v1/catalog/plan/"): SELF,  # reads only, but a POST: a person, or a write token
    ("POST", "/api/v1/patch-windows/"): OPERATE,
    ("PUT", "/api/v1/patch-windows/{id}/"): OPERATE,
    ("PATCH", "/api/v1/patch-windows/{id}/"): OPERATE,
    ("DELETE", "/api/v1/patch-windows/{id}/"): OPERATE,
    ("POST", "/api/v1/patch-windows/{id}/pause/"): OPERATE,
    ("POST", "/api/v1/patch-windows/{id}/resume/"): OPERATE,
    ("POST", "/api/v1/deadlines/{id}/accept/"): OPERATE,
    ("POST", "/api/v1/operations/"): OPERATE,
    ("POST", "/api/v1/operations/{id}/cancel/"): OPERATE,
    ("POST", "/api/v1/operations/{id}/resume/"): OPERATE,
    ("POST", "/api/v1/outbox/{id}/retry/"): OPERATE,
    # Runbooks: operators write them and run them, within their scope.
    **{(m, "/api/v1/runbook-templates/{id}/"): OPERATE for m in ("PUT", "PATCH", "DELETE")},
    **{(m, "/api/v1/window-runbooks/{id}/"): OPERATE for m in ("PUT", "PATCH", "DELETE")},
    ("POST", "/api/v1/runbook-templates/"): OPERATE,
    ("POST", "/api/v1/window-runbooks/"): OPERATE,
    ("POST", "/api/v1/runbook-runs/"): OPERATE,
    ("POST", "/api/v1/runbook-runs/{id}/decide/"): OPERATE,
    **{
        ("POST", f"/api/v1/occurrences/{{id}}/{a}/"): OPERATE
        for a in ("start", "complete", "skip", "cancel", "move", "tick")
    },  # fmt: skip
}


def api_rule(method: str, path: str) -> str:
    return API_RULES.get((method, path), READ if method == "GET" else ADMIN)


def schema_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    )


@dataclass
class World:
    """Team B's estate, and the tokens and people the requests come from."""

    ids: dict[str, object]
    bodies: dict[tuple[str, str], object]
    clients: dict[str, object]
    feed_key: str


def _future(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


@pytest.fixture
def world(settings) -> World:
    settings.API_THROTTLE_RATE_USER = settings.API_THROTTLE_RATE_ANON = ""
    team_a, team_b = TeamFactory(slug="team-a"), TeamFactory(slug="team-b")
    admin = user_with_role("matrix-admin", roles.ADMIN, is_staff=True)
    people = {
        "anonymous": None,
        "no role": UserFactory(username="matrix-nobody"),
        "viewer": user_with_role("matrix-viewer", roles.VIEWER),
        "operator elsewhere": user_with_role("matrix-op-a", roles.OPERATOR),
        "operator": user_with_role("matrix-op", roles.OPERATOR),
        "admin": admin,
    }
    AccessScope.objects.create(user=people["operator elsewhere"]).teams.add(team_a)

    service = make_component(team=team_b, system__owner=team_b)
    database = BastionComponentFactory(team=team_b, system=service.system, environment=service.environment)
    other_database = BastionComponentFactory(team=team_b, system=service.system, environment=service.environment)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    window = make_window([database], hour + timedelta(days=3), rrule="FREQ=WEEKLY")
    freeze = ChangeFreeze.objects.create(
        name="F", start=hour + timedelta(days=40), end=hour + timedelta(days=41), scope="system", system=service.system
    )
    occurrence = patching_selectors.occurrences_between([window], timezone.now(), timezone.now() + timedelta(days=9))[0]
    operation = operation_services.operation_start(component=service, kind="roll_component")
    rule = MetricRule.objects.create(component=service, metric="latency_ms", warn=100, critical=200)
    ComponentTelemetry.objects.get_or_create(component=service)
    HealthChange.objects.create(
        component=service, at=timezone.now(), from_state="unknown", to_state="healthy", reason="matrix"
    )
    feed = feed_token_create(user=admin, name="matrix feed", filters={})
    feed_key = feed.secret
    token = ApiToken.objects.get(key_hash=ApiToken.hash(api_token(admin, "read")))
    ids = {
        "components": service.pk, "instances": service.instances.first().pk, "images": service.images.first().pk,
        "systems": service.system.pk, "teams": team_b.pk, "environments": service.environment.pk,
        "tags": TagFactory().pk, "clusters": ClusterFactory(system=service.system).pk,
        "patch-windows": window.pk, "occurrences": occurrence.key, "operations": operation.pk,
        "change-freezes": freeze.pk,
        "metric-rules": rule.pk, "component-telemetry": service.pk, "health-changes": HealthChange.objects.get().pk,
        "log-rules": LogRule.objects.create(name="matrix", pattern="matrix", kind="ssh_session").pk,
        "remediation-policies": RemediationPolicy.objects.create(component=service).pk,
        "provider-configs": ProviderConfig.objects.create(component=service).pk,
        "feed-tokens": feed.pk, "tokens": token.pk,
        "notification-routes": NotificationRoute.objects.create(
            name="team-b", team=team_b, channel="email", emails="b@example.com", events=["operation_failed"]
        ).pk,
        "outbox": _failed_message().pk,
        **_discovery(team_b),
    }  # fmt: skip
    ids.update(_runbooks(team_b, window, database, occurrence, other_database))
    ids["deadlines"] = _deadline(database)
    ids["audit"] = AuditEvent.objects.order_by("pk").values_list("pk", flat=True).first()
    window_body = {"title": "Matrix", "components": [other_database.pk], "start": _future(30), "duration": "01:00:00",
                   "time_zone": "UTC", "change_kind": "minor_version"}  # fmt: skip
    bodies = {
        ("POST", "/api/v1/telemetry/"): {"items": [{"type": "heartbeat", "component": service.pk}]},
        ("POST", "/api/v1/tokens/"): {"name": "matrix", "scope": "read", "expires_at": _future(5)},
        ("POST", "/api/v1/feed-tokens/"): {"name": "matrix"},
        ("POST", "/api/v1/patch-windows/"): window_body,
        ("PUT", "/api/v1/patch-windows/{id}/"): {**window_body, "components": [database.pk]},
        ("PATCH", "/api/v1/patch-windows/{id}/"): {"title": "Renamed"},
        ("POST", "/api/v1/operations/"): {"kind": "roll_component", "component": service.pk},
        **_runbook_bodies(team_b, ids, occurrence),
        ("POST", "/api/v1/occurrences/{id}/move/"): {"start": _future(4)},
        ("POST", "/api/v1/occurrences/{id}/tick/"): {"steps_done": []},
    }
    clients = {name: _session_api(user) for name, user in people.items()}
    for scope in ("read", "write", "ingest", "feed"):
        clients[f"{scope} token"] = _bearer(api_token(admin, scope))
    clients["telemetry agent token"] = _bearer(IngestTokenFactory().raw)
    return World(ids=ids, bodies=bodies, clients=clients, feed_key=feed_key)


def _deadline(database) -> int:
    """A pending RDS action on the team's database, with its proposal searched (accept has a window to save)."""
    action = VendorAction(source="rds", action="system-update", auto_applied_after=timezone.now() + timedelta(days=30))
    vendor_deadlines_replace(read={database.pk: [action]}, sources=["rds"])
    deadline = Deadline.objects.get(component=database)
    proposals_refresh([deadline])
    return deadline.pk


def _discovery(team) -> dict[str, int]:
    """A source, one run of it and a component it found (nothing is read from AWS: a sync asked for is
    only queued)."""
    source = DiscoverySource.objects.create(name="matrix-aws", kind="aws", regions=["eu-west-1"])
    component = make_component(instances=1, team=team)
    record = DiscoveredObject.objects.create(
        source=source, key="matrix", kind="asg", component=component, last_seen_at=timezone.now()
    )
    return {
        "discovery/sources": source.pk,
        "discovery/runs": SyncRun.objects.create(source=source).pk,
        "discovery/objects": record.pk,
    }


def _runbooks(team, window, database, occurrence, other_database) -> dict[str, int]:
    """A team's runbook on the window, and a run of it that asks a person to tick its step."""
    template = RunbookTemplate.objects.create(
        name="matrix runbook", executor="webhook", steps=[{"type": "manual", "name": "look"}], team=team
    )
    attached = WindowRunbook.objects.create(window=window, template=template)
    row = occurrence_materialise(window, occurrence.original_start)
    operation = Operation.objects.create(kind="run_runbook", component=database, state="paused")
    run = RunbookRun.objects.create(operation=operation, occurrence=row, template=template, executor="webhook")
    RunStep.objects.create(run=run, position=0, type="manual", name="look", state="asking", question="Look.")
    spare = make_window([other_database], timezone.now().replace(microsecond=0) + timedelta(days=5), title="Spare")
    return {"runbook-templates": template.pk, "window-runbooks": attached.pk, "runbook-runs": run.pk,
            "spare-window": spare.pk}  # fmt: skip


def _runbook_bodies(team, ids: dict, occurrence) -> dict:
    template = {"name": "matrix runbook", "executor": "webhook", "steps": [{"type": "manual", "name": "x"}],
                "team": team.pk}  # fmt: skip
    attach = {"template": ids["runbook-templates"]}
    return {
        ("POST", "/api/v1/runbook-templates/"): {**template, "name": "matrix runbook 2"},
        ("PUT", "/api/v1/runbook-templates/{id}/"): template,
        ("POST", "/api/v1/window-runbooks/"): {**attach, "window": ids["spare-window"]},
        ("PUT", "/api/v1/window-runbooks/{id}/"): {**attach, "window": ids["patch-windows"]},
        ("POST", "/api/v1/runbook-runs/"): {"occurrence": occurrence.key},
        ("POST", "/api/v1/runbook-runs/{id}/decide/"): {"step": 1, "decision": "tick"},
    }


def _failed_message() -> OutboxMessage:
    """A side effect that gave up, so a retry has something to do."""
    message = outbox_services.outbox_send(kind="notify.email", payload={"subject": "s", "text": "t", "to": []})
    OutboxMessage.objects.filter(pk=message.pk).update(state=MessageState.FAILED, last_error="gave up")
    return message


def _session_api(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)  # a real session, so CSRF-exempt API calls are judged as a browser's
    return client


def _bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


NESTED = ("discovery",)  # resources one level down: /api/v1/discovery/sources/{id}/


def _resource(template: str) -> str:
    parts = template.removeprefix("/api/v1/").split("/")
    return "/".join(parts[:2]) if parts[0] in NESTED else parts[0]


def _path(template: str, ids: dict) -> str:
    resource = _resource(template)
    if "{id}" not in template:
        return template
    assert resource in ids, f"{template}: add an object of this resource to the matrix's world"
    return template.replace("{id}", str(ids[resource]))


def _denied(response) -> bool:
    return response.status_code in (401, 403, 404)


def _attempt(client, method: str, path: str, body) -> object:
    """One request whose writes are undone, so each persona meets the same world."""
    with transaction.atomic():
        response = getattr(client, method.lower())(path, body, format="json") if body is not None else (
            getattr(client, method.lower())(path))  # fmt: skip
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize(("method", "template"), schema_operations())
def test_api_operation(world, method, template):
    need = api_rule(method, template)
    path = _path(template, world.ids)
    body = world.bodies.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
    wrong = []
    for persona, may in {**PERSONAS, **TOKEN_PERSONAS}.items():
        response = _attempt(world.clients[persona], method, path, body)
        assert response.status_code < 500, f"{persona}: {response.status_code}"
        if _denied(response) == (need in may):
            wrong.append(f"{persona}: {response.status_code} {response.content[:150]!r}")
    assert not wrong, f"{method} {template} needs {need}; got\n" + "\n".join(wrong)


def test_every_write_rule_names_a_real_operation():
    """A rule for an operation that no longer exists would pass silently: refuse it."""
    assert set(API_RULES) <= set(schema_operations())


# --- the pages -----------------------------------------------------------------------------

# name: (what GET needs, what POST needs); None = the method does nothing there (not checked).
PAGE_RULES: dict[str, tuple[str | None, str | None]] = {
    "healthz": (PUBLIC, None),
    "readyz": (PUBLIC, None),
    "metrics": (PUBLIC, None),
    "login": (PUBLIC, PUBLIC),
    "logout": (None, None),  # anyone may log out; it sends everybody to the log-in page
    # The API's description is public (it holds no data), like the log-in page.
    "schema": (PUBLIC, None),
    "swagger-ui": (PUBLIC, None),
    "redoc": (PUBLIC, None),
    "patch_feed": (PUBLIC, None),  # the secret in its address is its credential
    "operation_callback": (None, PUBLIC),  # signed by the provider
    # OTLP/HTTP's paths sit outside /api/ but are API views: only a sender of telemetry gets past them.
    "otlp_metrics": (INGEST, None),
    "otlp_logs": (INGEST, None),
    "component_create": (ADMIN, ADMIN),
    "component_edit": (ADMIN, ADMIN),
    "component_delete": (None, ADMIN),
    "freeze_list": (READ, ADMIN),
    "log_rule_list": (READ, ADMIN),
    "log_rule_edit": (READ, ADMIN),
    "log_rule_toggle": (None, ADMIN),
    "log_rule_delete": (None, ADMIN),
    "patch_window_create": (OPERATE_NEW, OPERATE_NEW),
    "patch_window_edit": (OPERATE, OPERATE),
    "patch_window_pause": (None, OPERATE),
    "patch_window_delete": (None, OPERATE),
    "deadline_accept": (None, OPERATE),
    "patch_window_check": (None, SELF),
    "patch_window_check_existing": (None, SELF),
    "occurrence_action": (None, OPERATE),
    "runbook_run_start": (None, OPERATE),
    "runbook_run_decide": (None, OPERATE),
    "runbook_window_attach": (None, OPERATE),
    "operation_create": (None, OPERATE),
    "component_scale": (None, ADMIN),  # sets desired_instances: a change to the component (admin)
    "operation_cancel": (None, OPERATE),
    "operation_resume": (None, OPERATE),
    "outbox_retry": (None, OPERATE),
    "discovery_sync": (None, ADMIN),  # as the API's sync: admins, a source writes estate-wide
    "discovery_detach": (None, ADMIN),  # an edit of the component: who may edit it
    "catalog_page": (READ, SELF),  # reading a plan writes nothing
    "catalog_confirm": (None, ADMIN),
    "feed_token_create": (None, SELF),
    "feed_token_revoke": (None, OWN_WRITE),
    "token_list": (SELF, SELF),
    "token_revoke": (None, OWN_WRITE),
}


def page_routes() -> list[tuple[str, str]]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.name

    return sorted(
        (name, route)
        for route, name in walk(get_resolver().url_patterns)
        if not route.startswith(("admin/", "api/v1/", "static/"))
    )


def _page_url(route: str, world: World) -> str:
    ids = world.ids
    url = "/" + route
    if "<str:key>.ics" in url:
        return url.replace("<str:key>", world.feed_key)
    url = url.replace("<str:action>", "skip").replace("<str:key>", str(ids["occurrences"]))
    resource = {"components": "components", "windows": "patch-windows", "operations": "operations",
                "feeds": "feed-tokens", "tokens": "tokens", "outbox": "outbox", "log-rules": "log-rules",
                "sources": "discovery/sources", "runs": "discovery/runs", "deadlines": "deadlines"}  # fmt: skip
    if "<int:pk>" in url:
        segment = next(s for s in reversed(url.split("<int:pk>")[0].strip("/").split("/")) if s in resource)
        url = url.replace("<int:pk>", str(ids[resource[segment]]))
    return url


def _page_denied(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(("name", "route"), page_routes())
def test_page(world, settings, name, route):
    settings.LOGIN_THROTTLE_RATE = ""
    get_need, post_need = PAGE_RULES.get(name, (READ, None))
    url = _page_url(route, world)
    people = {p: u for p, u in world.clients.items() if p in PERSONAS}
    wrong = []
    for method, need in (("GET", get_need), ("POST", post_need)):
        for persona, api_client in people.items():
            client = Client()
            if persona != "anonymous":
                client.cookies = api_client.cookies
            with transaction.atomic():
                response = client.get(url) if method == "GET" else client.post(url, {})
                transaction.set_rollback(True)
            assert response.status_code < 500, f"{method} {url} as {persona}: {response.status_code}"
            if need is None:
                continue
            if _page_denied(response) == (need in PERSONAS[persona]):
                wrong.append(f"{method} as {persona}: {response.status_code} {response.get('Location', '')}")
    assert not wrong, f"{name} ({url}) needs GET {get_need}, POST {post_need}; got\n" + "\n".join(wrong)


def test_every_page_rule_names_a_real_page():
    assert set(PAGE_RULES) <= {name for name, _ in page_routes()}


# --- sequences that change a scope, then act (issue 15, item 1) --------------------------------

WRITES = ("POST", "PUT", "PATCH", "DELETE")
# What a person may still do with an empty scope: their own tokens and feeds, the live check.
PERSONAL_RULES = {PUBLIC, SELF, INGEST}


def _limited(username: str, role: str, *, teams=(), systems=()):
    user = user_with_role(username, role)
    row = AccessScope.objects.create(user=user)
    row.teams.set(teams)
    row.systems.set(systems)
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Fields a copy of an object must not share with it (unique together with its neighbours).
UNIQUE_FIELDS = {"name": "Copy", "slug": "copy", "external_id": "copy-1", "version": "9.9.9", "metric": "copy_ms"}


def _valid_body(api, method: str, template: str, world: World) -> dict | None:
    """A body the serializer accepts, so the request reaches the scope check: the world's object as
    the API shows it (PUT: the same again; POST: a copy), or {} when there is none."""
    if method == "DELETE":
        return None
    resource = template.removeprefix("/api/v1/").split("/")[0]
    is_create = template == f"/api/v1/{resource}/"
    if not (is_create and method == "POST") and method != "PUT" or resource not in world.ids:
        return {}
    shown = api.get(f"/api/v1/{resource}/{world.ids[resource]}/")
    if shown.status_code != 200:
        return {}
    body = {k: v for k, v in shown.json().items() if v is not None}
    return {**body, **{k: v for k, v in UNIQUE_FIELDS.items() if k in body}} if is_create else body


def test_a_system_limited_admin_cannot_delete_its_own_system_and_stays_limited(world):
    system = System.objects.get(pk=world.ids["systems"])
    person = _limited("matrix-admin-sys", roles.ADMIN, systems=[system])
    api = _session_api(person)
    refused = api.delete(f"/api/v1/systems/{system.pk}/")
    assert refused.status_code == 409 and "matrix-admin-sys; change their access first" in refused.json()["detail"]
    assert _client(person).get(f"/admin/inventory/system/{system.pk}/delete/").status_code == 302  # no admin site
    assert System.objects.filter(pk=system.pk).exists()
    # Then acts: still inside the system, still outside the rest of the estate.
    component = world.ids["components"]
    assert api.patch(f"/api/v1/components/{component}/", {"description": "x"}, format="json").status_code == 200
    assert api.post("/api/v1/tags/", {"name": "t", "slug": "t"}, format="json").status_code == 403
    assert _client(person).get(f"/components/{component}/edit/").status_code == 200


def test_an_unlimited_admin_cannot_delete_the_team_an_operator_is_limited_to(world):
    team_a = Team.objects.get(slug="team-a")
    admin = world.clients["admin"]
    refused = admin.delete(f"/api/v1/teams/{team_a.pk}/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"Team {team_a} limits the access of matrix-op-a; change their access first."
    page = Client()
    page.cookies = admin.cookies
    assert "limits the access of matrix-op-a" in page.get(f"/admin/inventory/team/{team_a.pk}/delete/").content.decode()
    page.post(f"/admin/inventory/team/{team_a.pk}/delete/", {"post": "yes"})
    assert Team.objects.filter(pk=team_a.pk).exists()
    # Then the operator acts on team B's component: still refused, in the API and on the page.
    operator = world.clients["operator elsewhere"]
    body = {"kind": "roll_component", "component": world.ids["components"]}
    assert operator.post("/api/v1/operations/", body).status_code == 403
    operator_page = Client()
    operator_page.cookies = operator.cookies
    refused_page = operator_page.post(f"/components/{world.ids['components']}/operations/", {"kind": "roll_component"})
    assert refused_page.status_code == 403


def test_a_scope_emptied_behind_the_services_back_refuses_every_write(world):
    team_b = Team.objects.get(pk=world.ids["teams"])
    person = _limited("matrix-admin-b", roles.ADMIN, teams=[team_b])
    api = _session_api(person)
    component = world.ids["components"]
    assert api.patch(f"/api/v1/components/{component}/", {"description": "x"}, format="json").status_code == 200
    AccessScopeTeam.objects.filter(accessscope__user=person).delete()  # the last team goes, by other means
    wrong = []
    for method, template in schema_operations():
        if method not in WRITES or api_rule(method, template) in PERSONAL_RULES:
            continue
        if "{id}" in template and _resource(template) not in world.ids:
            continue  # test_api_operation insists the world has one
        body = world.bodies.get((method, template)) or _valid_body(api, method, template, world)
        response = _attempt(api, method, _path(template, world.ids), body)
        if response.status_code < 400 or response.status_code >= 500:
            wrong.append(f"{method} {template}: {response.status_code}")
    for name, route in page_routes():
        if PAGE_RULES.get(name, (None, None))[1] not in (OPERATE, ADMIN) or "<" not in route:
            continue  # the pages that change a named object
        page = _client(person)
        with transaction.atomic():
            response = page.post(_page_url(route, world), {})
            transaction.set_rollback(True)
        if response.status_code != 403:
            wrong.append(f"page {name}: {response.status_code}")
    assert not wrong, "an empty scope let these through:\n" + "\n".join(wrong)
    refused = api.patch(f"/api/v1/components/{component}/", {"description": "y"}, format="json")
    assert refused.status_code == 403 and "scope is empty" in refused.json()["detail"]
