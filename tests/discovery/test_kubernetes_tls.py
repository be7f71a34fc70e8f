"""A cluster behind TLS: its certificate checked against the CA bundle the source names, or not at all
when the source says `insecure`; never silently unchecked."""

from __future__ import annotations

import socket

import pytest

from estate.discovery.choices import RunState
from estate.discovery.services import sync_now
from estate.inventory.models import Component
from tests.core.test_outbound import certificates
from tests.discovery.test_kubernetes_sync import make_source, peer, seed  # noqa: F401

pytestmark = pytest.mark.django_db
HOST, CA_VARIABLE = "k8s.cluster.test", "ESTATE_TEST_K8S_CA"


@pytest.fixture
def tls_peer(peer, tmp_path, monkeypatch):  # noqa: F811
    """The same peer, serving HTTPS with a certificate for HOST signed by a CA of its own."""
    ca_file, context = certificates(tmp_path, HOST)
    peer.server.socket = context.wrap_socket(peer.server.socket, server_side=True)
    resolve = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: resolve(_address(host), *a, **k))
    monkeypatch.setenv(CA_VARIABLE, ca_file)
    peer.url = f"https://{HOST}:{peer.server.server_port}"
    seed(peer)
    return peer


def _address(host: str) -> str:
    return "127.0.0.1" if host == HOST else host


def test_the_certificate_is_checked_against_the_named_ca_bundle(tls_peer):
    run = sync_now(source=make_source(tls_peer, ca_bundle_env=CA_VARIABLE))

    assert run.state == RunState.SUCCEEDED, (run.messages, run.region_errors)
    assert Component.objects.filter(slug="web").exists()


def test_a_certificate_no_known_ca_signed_fails_the_read(tls_peer):
    run = sync_now(source=make_source(tls_peer, namespaces=["shop"]))

    assert run.state == RunState.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in run.region_errors["shop"]
    assert not Component.objects.exists()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_reads_without_checking_the_certificate(tls_peer):
    run = sync_now(source=make_source(tls_peer, insecure=True))

    assert run.state == RunState.SUCCEEDED, (run.messages, run.region_errors)


def test_a_ca_bundle_variable_naming_no_file_fails_the_run_naming_it(tls_peer, monkeypatch):
    monkeypatch.setenv(CA_VARIABLE, "/nowhere/ca.pem")

    run = sync_now(source=make_source(tls_peer, ca_bundle_env=CA_VARIABLE))

    assert run.state == RunState.FAILED
    assert "/nowhere/ca.pem named by ESTATE_TEST_K8S_CA" in run.messages[0]
