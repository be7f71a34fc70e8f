"""Issue 15, item 2: provider configs neither reach addresses Estate must not call (SSRF) nor send a
secret outside the scope it is bound to. Checked at save (a 400 naming the field) and again at every
call, against real listeners on loopback; the test's own host names come from a resolver the test
controls (no DNS server answers here)."""

from __future__ import annotations

import socket
import threading

import pytest
from rest_framework.test import APIClient

from estate.access import roles
from estate.operations import services
from estate.operations.choices import OperationKind, OperationState
from estate.operations.models import ProviderConfig
from estate.operations.providers.base import ProviderError
from estate.operations.providers.kubernetes import KubernetesProvider
from estate.operations.providers.webhook import WebhookProvider
from tests.core.test_outbound import FakeDNS, Listener, certificates
from tests.factories import SystemFactory, TeamFactory, UserFactory
from tests.operations.conftest import make_component, run_to_end
from tests.operations.test_kubernetes_provider import ApiStub

pytestmark = pytest.mark.django_db
URL = "/api/v1/provider-configs/"
K8S = {"namespace": "shop", "deployment": "web", "container": "web"}


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda op_id: None)


@pytest.fixture(autouse=True)
def nothing_allowed(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ""
    settings.PROVIDER_SECRET_SCOPES = ""


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    """Answers the test's own host names (no DNS server here); every other name resolves for real."""
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def team_admin(team):
    user = UserFactory(username=f"admin-of-{team.slug}")
    roles.grant(user, roles.ADMIN, teams=[team])
    return user


# --- addresses, at save --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "key", "value", "reason"),
    [
        ("webhook", "url", "http://169.254.169.254/latest/meta-data/iam/", "169.254.169.254 is a cloud metadata"),
        ("webhook", "url", "http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is a cloud metadata"),
        ("webhook", "url", "http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"),
        ("webhook", "url", "http://localhost:8000/hook", "localhost resolves to 127.0.0.1, a loopback address"),
        ("webhook", "url", "file:///etc/passwd", "only http and https"),
        ("kubernetes", "host", "https://[::1]:6443", "::1 is a loopback address"),
        ("kubernetes", "host", "https://169.254.0.10:6443", "169.254.0.10 is a link-local address"),
        ("aws", "endpoint_url", "http://169.254.169.254/", "169.254.169.254 is a cloud metadata"),
    ],
)
def test_a_config_pointing_at_a_refused_address_is_a_400_naming_the_setting(api, provider, key, value, reason):
    component = make_component(instances=0, provider=provider)
    body = {"component": component.pk, "settings": {key: value, **K8S}}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    [message] = response.json()["errors"][f"settings.{key}"]
    assert reason in message
    assert response.json()["detail"].startswith(f"settings.{key}: ")
    assert not ProviderConfig.objects.filter(component=component).exists()


def test_a_name_that_resolves_to_loopback_is_refused_at_save(api, dns):
    dns.answers["ci.sneaky.test"] = [["10.0.0.8", "127.0.0.1"]]
    component = make_component(instances=0, provider="webhook")
    response = api.post(URL, {"component": component.pk, "settings": {"url": "https://ci.sneaky.test/"}}, format="json")
    assert response.status_code == 400
    assert "ci.sneaky.test resolves to 127.0.0.1, a loopback" in response.json()["errors"]["settings.url"][0]


def test_private_addresses_are_accepted_and_loopback_once_allowed(api, settings):
    component = make_component(instances=0, provider="webhook")
    ok = api.post(URL, {"component": component.pk, "settings": {"url": "https://10.20.0.5/hook"}}, format="json")
    assert ok.status_code == 201, ok.content
    other = make_component(instances=0, provider="webhook")
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    ok = api.post(URL, {"component": other.pk, "settings": {"url": "http://127.0.0.1:9000/hook"}}, format="json")
    assert ok.status_code == 201, ok.content


def test_settings_must_be_an_object_and_a_region_a_region(api):
    component = make_component(instances=0, provider="aws")
    response = api.post(URL, {"component": component.pk, "settings": ["http://169.254.169.254/"]}, format="json")
    assert response.status_code == 400 and "settings" in response.json()["errors"]
    response = api.post(URL, {"component": component.pk, "settings": {"region": "x.evil.test/"}}, format="json")
    assert response.status_code == 400 and "settings.region" in response.json()["errors"]


def test_the_admin_site_shows_the_address_error_on_the_settings_field(admin_user, client):
    component = make_component(instances=0, provider="webhook")
    client.force_login(admin_user)
    response = client.post(
        "/admin/operations/providerconfig/add/",
        {"component": component.pk, "settings": '{"url": "http://169.254.169.254/"}', "secret_env": ""},
    )
    assert response.status_code == 200
    assert "settings.url: 169.254.169.254 is a cloud metadata" in response.content.decode()
    assert not ProviderConfig.objects.exists()


# --- addresses, at call time ---------------------------------------------------------------


def test_a_webhook_row_written_around_validation_never_reaches_the_metadata_address(settings, monkeypatch):
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_HOOK=*"
    monkeypatch.setenv("ESTATE_TEST_HOOK", "hook-secret")
    component = make_component(instances=1, provider="webhook")
    ProviderConfig.objects.create(
        component=component, settings={"url": "http://169.254.169.254/latest/"}, secret_env="ESTATE_TEST_HOOK"
    )
    op = services.operation_start(component=component, kind=OperationKind.REBUILD_IMAGE)
    op = run_to_end(op)
    assert op.state == OperationState.FAILED
    assert "settings.url: 169.254.169.254 is a cloud metadata (link-local) address" in op.error


def test_a_kubernetes_row_written_around_validation_never_reaches_loopback(settings, monkeypatch):
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_K8S=*"
    monkeypatch.setenv("ESTATE_TEST_K8S", "k8s-token")
    component = make_component(instances=0, provider="kubernetes")
    with Listener("127.0.0.1") as listener:
        ProviderConfig.objects.create(
            component=component,
            settings={"host": f"http://127.0.0.1:{listener.port}", **K8S},
            secret_env="ESTATE_TEST_K8S",
        )
        op = services.operation_start(component=component, kind=OperationKind.ROLL_COMPONENT)
        op = run_to_end(op)
    assert op.state == OperationState.FAILED and "settings.host: 127.0.0.1 is a loopback address" in op.error
    assert listener.requests == []


def test_an_address_that_changed_since_the_save_is_refused_at_the_call(api, settings, monkeypatch, dns):
    """Saved while the name answered an allowed address; by the call it answers an internal one."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_HOOK=*"
    monkeypatch.setenv("ESTATE_TEST_HOOK", "hook-secret")
    component = make_component(instances=1, provider="webhook")
    with Listener("127.0.0.1") as ci, Listener("127.0.0.2", port=ci.port) as internal:
        dns.answers["ci.moving.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        url = f"http://ci.moving.test:{ci.port}/hook"
        body = {"component": component.pk, "settings": {"url": url}, "secret_env": "ESTATE_TEST_HOOK"}
        assert api.post(URL, body, format="json").status_code == 201
        provider = WebhookProvider(config=ProviderConfig.objects.get(component=component))
        with pytest.raises(ProviderError, match="settings.url: ci.moving.test resolves to 127.0.0.2, a loopback"):
            provider.post({"request_id": "r1", "action": "build_image"})
    assert ci.requests == [] and internal.requests == []


def test_the_kubernetes_client_stays_on_the_address_it_checked(settings, monkeypatch, dns):
    """DNS rebinding against the kubernetes client: resolved once when the provider is made, every
    request of the rollout goes to that address, none to what the name answers later."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_K8S=*"
    monkeypatch.setenv("ESTATE_TEST_K8S", "k8s-token")
    stub = ApiStub()
    component = make_component(instances=0, provider="kubernetes")
    port = stub.server.server_port
    threading.Thread(target=stub.server.serve_forever, daemon=True).start()
    with Listener("127.0.0.2", port=port) as internal:
        try:
            dns.answers["k8s.rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
            config = ProviderConfig.objects.create(
                component=component,
                settings={"host": f"http://k8s.rebind.test:{port}", **K8S},
                secret_env="ESTATE_TEST_K8S",
            )
            provider = KubernetesProvider(config=config)
            for _ in range(3):
                provider.rollout_status()
        finally:
            stub.server.shutdown()
    assert stub.auth == ["Bearer k8s-token"] * 3
    assert internal.requests == []
    assert dns.asked["k8s.rebind.test"] == 1


def _tls_stub(tmp_path, name: str) -> tuple[ApiStub, str, list]:
    """The API stub over TLS with a certificate for `name`; (stub, CA PEM, server names it was asked for)."""
    ca_file, context = certificates(tmp_path, name)
    stub, asked = ApiStub(), []
    context.sni_callback = lambda sock, server_name, ctx: asked.append(server_name)
    stub.server.socket = context.wrap_socket(stub.server.socket, server_side=True)
    threading.Thread(target=stub.server.serve_forever, daemon=True).start()
    with open(ca_file) as pem:
        return stub, pem.read(), asked


def test_the_kubernetes_client_is_pinned_over_tls_with_sni_and_certificate_on_the_name(
    settings, monkeypatch, dns, tmp_path
):
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_TEST_K8S=*"
    monkeypatch.setenv("ESTATE_TEST_K8S", "k8s-token")
    stub, ca_pem, asked = _tls_stub(tmp_path, "k8s.pinned.test")
    port = stub.server.server_port
    component = make_component(instances=0, provider="kubernetes")
    try:
        dns.answers["k8s.pinned.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        settings_ = {"host": f"https://k8s.pinned.test:{port}", "ca_cert": ca_pem, **K8S}
        config = ProviderConfig.objects.create(component=component, settings=settings_, secret_env="ESTATE_TEST_K8S")
        assert KubernetesProvider(config=config).rollout_status() == (3, 3, True)
        # The same pinned address under a name its certificate does not carry: refused by TLS.
        dns.answers["k8s.other.test"] = [["127.0.0.1"]]
        config.settings = {**settings_, "host": f"https://k8s.other.test:{port}"}
        with pytest.raises(ProviderError):
            KubernetesProvider(config=config).rollout_status()
    finally:
        stub.server.shutdown()
    assert asked[0] == "k8s.pinned.test" and stub.auth == ["Bearer k8s-token"]
    assert dns.asked["k8s.pinned.test"] == 1


# --- secrets, bound to scopes --------------------------------------------------------------


def test_a_team_limited_admin_cannot_send_another_teams_token_to_their_listener(settings, monkeypatch):
    """The attack in the issue: an admin of payments points its own component's kubernetes config at
    a listener of theirs with web's token variable. Refused at save; a row written around the save
    still makes the worker send no token (nor any request)."""
    settings.OUTBOUND_ALLOWED_NETWORKS = "127.0.0.1/32"  # the listener is reachable: only the binding stops it
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_WEB_K8S_TOKEN=team:web"
    monkeypatch.setenv("ESTATE_WEB_K8S_TOKEN", "web-team-token")
    TeamFactory(slug="web", name="Web")
    payments = TeamFactory(slug="payments", name="Payments")
    theirs = make_component(instances=0, provider="kubernetes", team=payments)
    with Listener("127.0.0.1") as listener:
        body = {
            "component": theirs.pk,
            "settings": {"host": f"http://127.0.0.1:{listener.port}", **K8S},
            "secret_env": "ESTATE_WEB_K8S_TOKEN",
        }
        response = as_user(team_admin(payments)).post(URL, body, format="json")
        assert response.status_code == 400, response.content
        [message] = response.json()["errors"]["secret_env"]
        assert "ESTATE_WEB_K8S_TOKEN is bound to team:web" in message and "team:payments" in message
        assert not ProviderConfig.objects.filter(component=theirs).exists()

        ProviderConfig.objects.create(component=theirs, settings=body["settings"], secret_env="ESTATE_WEB_K8S_TOKEN")
        op = services.operation_start(component=theirs, kind=OperationKind.ROLL_COMPONENT)
        op = run_to_end(op)
    assert op.state == OperationState.FAILED and "secret_env: ESTATE_WEB_K8S_TOKEN is bound to team:web" in op.error
    assert listener.requests == []
    assert not any("web-team-token" in auth for auth in listener.auth)


def test_an_unbound_variable_is_refused_with_how_to_bind_it(api, monkeypatch):
    monkeypatch.setenv("ESTATE_NOBODYS", "x")
    component = make_component(instances=0, provider="webhook")
    response = api.post(URL, {"component": component.pk, "secret_env": "ESTATE_NOBODYS"}, format="json")
    assert response.status_code == 400
    [message] = response.json()["errors"]["secret_env"]
    assert "ESTATE_NOBODYS is not bound to any team or system" in message
    assert "PROVIDER_SECRET_SCOPES" in message and "ESTATE_NOBODYS=team:<slug>" in message


def test_a_variable_bound_to_the_components_team_system_or_everyone_is_accepted(settings, monkeypatch):
    web, checkout = TeamFactory(slug="web", name="Web"), SystemFactory(slug="checkout", name="Checkout")
    settings.PROVIDER_SECRET_SCOPES = (
        "ESTATE_WEB_HOOK=team:web,ESTATE_CHECKOUT_HOOK=team:payments system:checkout,ESTATE_SHARED_HOOK=*"
    )
    for name in ("ESTATE_WEB_HOOK", "ESTATE_CHECKOUT_HOOK", "ESTATE_SHARED_HOOK"):
        monkeypatch.setenv(name, f"value of {name}")
    client = as_user(team_admin(web))
    for name in ("ESTATE_WEB_HOOK", "ESTATE_CHECKOUT_HOOK", "ESTATE_SHARED_HOOK"):
        component = make_component(instances=0, provider="webhook", team=web, system=checkout)
        response = client.post(URL, {"component": component.pk, "secret_env": name}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["secret_configured"] is True


def test_a_binding_removed_after_the_save_stops_the_secret_at_use(settings, monkeypatch):
    from estate.operations.providers.signing import secret_from_env

    web = TeamFactory(slug="web", name="Web")
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_WEB_HOOK=team:web"
    monkeypatch.setenv("ESTATE_WEB_HOOK", "web-secret")
    component = make_component(instances=0, provider="webhook", team=web)
    config = ProviderConfig.objects.create(component=component, secret_env="ESTATE_WEB_HOOK")
    assert secret_from_env(config) == "web-secret"
    settings.PROVIDER_SECRET_SCOPES = "ESTATE_WEB_HOOK=team:payments"
    assert secret_from_env(config) == ""
    config.settings = {"url": "https://10.0.0.1/hook"}
    with pytest.raises(ProviderError, match="secret_env: ESTATE_WEB_HOOK is bound to team:payments"):
        WebhookProvider(config=config)


def test_a_malformed_binding_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    from estate.core.secrets import secret_scopes

    settings.PROVIDER_SECRET_SCOPES = "ESTATE_X=team:web,SECRET_KEY=*"
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        secret_scopes()
