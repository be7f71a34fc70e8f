"""Per-source mapping: an ingest token says which OTLP resource attributes or Prometheus labels name the
component, environment and instance of what it sends; other senders keep the defaults."""

from __future__ import annotations

import time
from io import StringIO

import cramjam
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from rest_framework.test import APIClient

from estate.telemetry.models import IngestToken, Sample
from estate.telemetry.services import ingest_token_create
from tests.factories import ImmutableComponentFactory, InstanceFactory
from tests.telemetry.test_intake_remote_write import URL as WRITE_URL
from tests.telemetry.test_intake_remote_write import _now_ms, _write

pytestmark = pytest.mark.django_db
ATTRIBUTES = {"app": "cart", "env": "production", "host.name": "cart-7", "service.name": "collector"}


@pytest.fixture
def cart():
    component = ImmutableComponentFactory(slug="cart", name="cart")
    InstanceFactory(component=component, external_id="cart-7")
    return component


def sender(mapping: dict) -> APIClient:
    _, raw = ingest_token_create(name=f"vector-{len(mapping)}", whole_estate=True, mapping=mapping)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def otlp_body() -> bytes:
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    for key, value in ATTRIBUTES.items():
        resource.resource.attributes.add(key=key).value.string_value = value
    gauge = resource.scope_metrics.add().metrics.add(name="cpu_percent")
    gauge.gauge.data_points.add(time_unix_nano=time.time_ns() - 10**9, as_double=12.5)
    return request.SerializeToString()


def test_an_otlp_sender_mapped_to_its_own_attributes_lands_on_the_component_and_instance(cart):
    mapped = sender({"component": ["app"], "environment": ["env"], "instance": ["host.name"]})
    response = mapped.post("/v1/metrics", data=otlp_body(), content_type="application/x-protobuf")
    assert response.status_code == 200
    (sample,) = Sample.objects.filter(name="cpu_percent")
    assert (sample.component_id, sample.instance.external_id, sample.value) == (cart.pk, "cart-7", 12.5)


def test_the_same_body_from_a_sender_with_the_defaults_names_another_component(cart):
    plain = sender({})
    response = plain.post("/v1/metrics", data=otlp_body(), content_type="application/x-protobuf")
    assert response.status_code == 200  # partial success: the points about "collector" are rejected
    assert not Sample.objects.filter(component=cart).exists()


def test_a_prometheus_sender_mapped_to_other_labels(cart):
    mapped = sender({"component": ["service"], "instance": ["pod"]})
    labels = {"__name__": "cpu_percent", "service": "cart", "pod": "cart-7", "environment": "production"}
    body = bytes(cramjam.snappy.compress_raw(_write((labels, [(33.0, _now_ms())]))))
    response = mapped.post(WRITE_URL, data=body, content_type="application/x-protobuf", HTTP_CONTENT_ENCODING="snappy")
    assert response.status_code == 200, response.content
    (sample,) = Sample.objects.filter(name="cpu_percent")
    assert (sample.component_id, sample.instance.external_id) == (cart.pk, "cart-7")


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"service": ["app"]}, "Unknown key(s) service"),
        ({"component": "app"}, "component: give a list of 1 to 5"),
        ({"component": []}, "component: give a list of 1 to 5"),
        ({"instance": ["host name"]}, "instance: 'host name' is not an attribute or label name"),
        (["component"], "The mapping is an object"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_key(mapping, says):
    with pytest.raises(ValidationError) as refused:
        ingest_token_create(name="bad", whole_estate=True, mapping=mapping)
    assert says in refused.value.message_dict["mapping"][0]
    assert not IngestToken.objects.exists()


def test_the_command_takes_a_mapping_and_refuses_a_malformed_one():
    call_command("create_ingest_token", "vector", "--estate", "--map", "component=app", "--map",
                 "instance=host.name,k8s.pod.name", stdout=StringIO(), stderr=StringIO())  # fmt: skip
    assert IngestToken.objects.get().mapping == {"component": ["app"], "instance": ["host.name", "k8s.pod.name"]}
    with pytest.raises(CommandError, match="write KEY=NAME"):
        call_command("create_ingest_token", "other", "--estate", "--map", "component", stdout=StringIO())
