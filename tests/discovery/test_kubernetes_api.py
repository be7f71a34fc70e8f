"""A kubernetes source through /api/v1/discovery/sources/: its own fields, each refused by name when wrong."""

from __future__ import annotations

import pytest

from estate.discovery.models import DiscoverySource

pytestmark = pytest.mark.django_db
SOURCES = "/api/v1/discovery/sources/"


def body(**changes) -> dict:
    return {
        "name": "k8s-prod",
        "kind": "kubernetes",
        "endpoint_url": "https://k8s.example.com:6443",
        "token_env": "ESTATE_K8S_PROD_TOKEN",
        "namespaces": ["shop", "data"],
        "tag_keys": {"team": "app.kubernetes.io/part-of", "environment": "env"},
    } | changes


def test_an_admin_creates_a_kubernetes_source_holding_the_token_variable_name_only(api):
    answer = api.post(SOURCES, body(ca_bundle_env="ESTATE_K8S_PROD_CA"), format="json")

    assert answer.status_code == 201, answer.json()
    source = DiscoverySource.objects.get()
    assert (source.kind, source.namespaces, source.token_env, source.insecure) == (
        "kubernetes", ["shop", "data"], "ESTATE_K8S_PROD_TOKEN", False,
    )  # fmt: skip
    assert answer.json()["ca_bundle_env"] == "ESTATE_K8S_PROD_CA"


def test_no_namespace_means_the_whole_cluster(api):
    answer = api.post(SOURCES, body(namespaces=[]), format="json")
    assert answer.status_code == 201, answer.json()


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("endpoint_url", {"endpoint_url": ""}),
        ("endpoint_url", {"endpoint_url": "k8s.example.com:6443"}),
        ("token_env", {"token_env": ""}),
        ("token_env", {"token_env": "KUBECONFIG"}),
        ("ca_bundle_env", {"ca_bundle_env": "/etc/ssl/ca.pem"}),
        ("insecure", {"insecure": True, "ca_bundle_env": "ESTATE_K8S_PROD_CA"}),
        ("namespaces", {"namespaces": "shop"}),
        ("namespaces", {"namespaces": ["shop", "Shop_Two"]}),
        ("namespaces", {"namespaces": ["shop", "shop"]}),
        ("namespaces", {"namespaces": [f"ns-{n}" for n in range(101)]}),
        ("namespaces", {"namespaces": ["x" * 64]}),
        ("regions", {"regions": ["eu-west-1"]}),
        ("access_key_id_env", {"access_key_id_env": "ESTATE_AWS_KEY_ID"}),
        ("tag_keys", {"tag_keys": {"owner": "team"}}),
    ],
)
def test_bad_kubernetes_fields_are_refused_naming_the_field(api, field, changes):
    answer = api.post(SOURCES, body(**changes), format="json")

    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["errors"], answer.json()
    assert not DiscoverySource.objects.exists()


def test_several_bad_fields_are_all_named_at_once(api):
    answer = api.post(SOURCES, body(endpoint_url="", token_env="PATH", namespaces=["Bad!"]), format="json")

    assert answer.status_code == 400
    assert {"endpoint_url", "token_env", "namespaces"} <= set(answer.json()["errors"])


def test_an_aws_source_refuses_the_kubernetes_fields(api):
    aws = {"name": "aws", "kind": "aws", "regions": ["eu-west-1"], "namespaces": ["shop"], "insecure": True}

    answer = api.post(SOURCES, aws, format="json")

    assert answer.status_code == 400
    assert {"namespaces", "insecure"} <= set(answer.json()["errors"])
