from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from estate.inventory.models import Instance
from estate.telemetry.models import Event, IngestBatch, Sample
from tests.factories import ImmutableComponentFactory, InstanceFactory
from tests.telemetry.conftest import URL

pytestmark = pytest.mark.django_db


def _now() -> str:
    return timezone.now().isoformat()


@pytest.fixture
def component():
    return ImmutableComponentFactory()


@pytest.fixture
def instance(component):
    return InstanceFactory(component=component, external_id="i-1")


def test_a_batch_of_every_type_is_stored(shipper, component, instance):
    items = [
        {"type": "heartbeat", "component": component.pk, "instance": "i-1", "timestamp": _now()},
        {"type": "sample", "component": component.pk, "instance": "i-1", "name": "cpu_percent", "value": 12.5,
         "unit": "%", "timestamp": _now()},
        {"type": "sample", "component": f"{component.environment.slug}/{component.slug}", "name": "rps", "value": 3},
        {"type": "event", "component": component.pk, "kind": "deploy", "message": "1.2.0"},
    ]  # fmt: skip
    response = shipper.post(URL, {"items": items}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == {"heartbeats": 1, "samples": 2, "events": 1}
    assert Sample.objects.count() == 2
    assert Sample.objects.get(name="cpu_percent").instance_id == instance.pk
    assert Event.objects.get().kind == "deploy"
    instance.refresh_from_db()
    assert instance.last_seen_at is not None
    assert component.telemetry.last_heartbeat_at is not None


def test_a_plain_list_is_accepted_too(shipper, component):
    response = shipper.post(URL, [{"type": "heartbeat", "component": component.pk}], format="json")
    assert response.status_code == 201


def test_a_heartbeat_never_moves_last_seen_backwards(shipper, component, instance):
    late = timezone.now()
    shipper.post(URL, [{"type": "heartbeat", "component": component.pk, "instance": "i-1",
                        "timestamp": late.isoformat()}], format="json")  # fmt: skip
    earlier = (late - timedelta(minutes=5)).isoformat()
    shipper.post(URL, [{"type": "heartbeat", "component": component.pk, "instance": "i-1", "timestamp": earlier}],
                 format="json")  # fmt: skip
    instance.refresh_from_db()
    assert instance.last_seen_at == late


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"type": "sample", "component": 999999, "name": "x", "value": 1}, "component", "No component 999999"),
        ({"type": "sample", "component": "nowhere/nothing", "name": "x", "value": 1}, "component", "No component"),
        ({"type": "heartbeat", "component": "PK", "instance": "i-404"}, "instance", "has no instance i-404"),
        ({"type": "sample", "component": "PK", "name": "x", "value": "NaN"}, "value", "Must be a number"),
        ({"type": "sample", "component": "PK", "name": "x", "value": "__INF__"}, "value", "finite"),
        ({"type": "sample", "component": "PK", "name": "x", "value": True}, "value", "Must be a number"),
        ({"type": "sample", "component": "PK", "name": "", "value": 1}, "name", "metric name"),
        ({"type": "sample", "component": "PK", "name": "x", "value": 1, "timestamp": "FUTURE"}, "timestamp",
         "in the future"),
        ({"type": "sample", "component": "PK", "name": "x", "value": 1, "timestamp": "OLD"}, "timestamp",
         "retention"),
        ({"type": "sample", "component": "PK", "name": "x", "value": 1, "timestamp": "2026-01-01T00:00:00"},
         "timestamp", "time zone"),
        ({"type": "sample", "component": "PK", "name": "x", "value": 1, "timestamp": "yesterday"}, "timestamp",
         "ISO 8601"),
        ({"type": "metric", "component": "PK"}, "type", "Must be one of"),
        ({"type": "event", "component": "PK", "kind": 5}, "kind", "event kind"),
        ({"type": "event", "component": "PK", "kind": "deploy", "message": "x" * 501}, "message", "500"),
        ({"type": "heartbeat", "component": ["PK"]}, "component", "Name the component"),
    ],
)  # fmt: skip
def test_a_bad_item_is_named_by_index_and_nothing_is_stored(shipper, component, instance, item, field, message):
    now = timezone.now()
    item = {k: (component.pk if v == "PK" else v) for k, v in item.items()}
    if item.get("component") == ["PK"]:
        item["component"] = [component.pk]
    stamps = {"FUTURE": now + timedelta(hours=1), "OLD": now - timedelta(days=400)}
    if item.get("timestamp") in stamps:
        item["timestamp"] = stamps[item["timestamp"]].isoformat()
    good = {"type": "sample", "component": component.pk, "name": "ok", "value": 1}
    heartbeat = {"type": "heartbeat", "component": component.pk, "instance": "i-1"}
    # 1e999 is valid JSON that Python reads as infinity; the test client could not encode it.
    body = json.dumps([good, heartbeat, item]).replace('"__INF__"', "1e999")
    response = shipper.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert list(body["errors"]) == ["2"]
    assert message in " ".join(body["errors"]["2"][field])
    assert Sample.objects.count() == 0
    assert Instance.objects.get(pk=instance.pk).last_seen_at is None


def test_an_item_that_is_not_an_object_is_named(shipper, component):
    response = shipper.post(URL, [{"type": "heartbeat", "component": component.pk}, 7], format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"1": {"non_field_errors": ["Each item must be a JSON object."]}}


def test_a_body_that_is_not_a_list_is_refused(shipper):
    response = shipper.post(URL, {"heartbeat": 1}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"items": ["Expected a list of items."]}


def test_a_batch_over_the_limit_is_413(shipper, component, settings):
    settings.TELEMETRY_BATCH_LIMIT = 3
    response = shipper.post(URL, [{"type": "heartbeat", "component": component.pk}] * 4, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "At most 3 items per request.", "errors": {}}
    assert not Sample.objects.exists()


def test_a_body_over_the_byte_limit_is_413(shipper, component, settings):
    settings.TELEMETRY_MAX_BODY_BYTES = 100
    response = shipper.post(URL, [{"type": "heartbeat", "component": component.pk}] * 10, format="json")
    assert response.status_code == 413


def test_ten_thousand_items_are_accepted(shipper, component):
    start = timezone.now().timestamp()
    items = [{"type": "sample", "component": component.pk, "name": "rps", "value": n, "timestamp": start - n / 1000}
             for n in range(10_000)]  # fmt: skip
    response = shipper.post(URL, items, format="json")
    assert response.status_code == 201
    assert Sample.objects.count() == 10_000


def test_a_batch_costs_a_fixed_number_of_queries(shipper, component, django_assert_max_num_queries):
    instances = [InstanceFactory(component=component, external_id=f"i-{n}") for n in range(30)]
    items = [
        {"type": kind, "component": component.pk, "instance": i.external_id, "name": "cpu", "value": 1}
        for i in instances
        for kind in ("heartbeat", "sample")
    ]
    with django_assert_max_num_queries(14):
        assert shipper.post(URL, items, format="json").status_code == 201


def test_a_retried_batch_is_stored_once(shipper, component):
    items = [{"type": "sample", "component": component.pk, "name": "rps", "value": 1}]
    first = shipper.post(URL, items, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = shipper.post(URL, items, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Sample.objects.count() == 1
    assert IngestBatch.objects.count() == 1


def test_a_key_reused_for_other_data_is_refused(shipper, component):
    shipper.post(URL, [{"type": "sample", "component": component.pk, "name": "rps", "value": 1}], format="json",
                 HTTP_IDEMPOTENCY_KEY="k")  # fmt: skip
    response = shipper.post(URL, [{"type": "sample", "component": component.pk, "name": "rps", "value": 2}],
                            format="json", HTTP_IDEMPOTENCY_KEY="k")  # fmt: skip
    assert response.status_code == 422
    assert "different batch" in response.json()["detail"]
    assert Sample.objects.count() == 1


def test_a_rejected_batch_does_not_burn_its_key(shipper, component):
    bad = [{"type": "sample", "component": component.pk, "name": "rps", "value": "x"}]
    assert shipper.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert not IngestBatch.objects.exists()
    good = [{"type": "sample", "component": component.pk, "name": "rps", "value": 1}]
    assert shipper.post(URL, good, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_keys_are_scoped_to_their_sender(shipper, api, component):
    items = [{"type": "sample", "component": component.pk, "name": "rps", "value": 1}]
    shipper.post(URL, items, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert "Idempotent-Replayed" not in api.post(URL, items, format="json", HTTP_IDEMPOTENCY_KEY="k").headers
    assert Sample.objects.count() == 2


def test_a_literal_nan_is_refused_as_bad_json(shipper, component):
    body = f'[{{"type": "sample", "component": {component.pk}, "name": "x", "value": NaN}}]'
    response = shipper.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]
    assert not Sample.objects.exists()


def test_an_item_sent_twice_in_a_batch_is_stored_once(shipper, component, instance):
    at = _now()
    sample = {"type": "sample", "component": component.pk, "instance": "i-1", "name": "cpu", "value": 5,
              "timestamp": at}  # fmt: skip
    by_name = {**sample, "component": f"{component.environment.slug}/{component.slug}", "value": 7}  # same, by slug
    event = {"type": "event", "component": component.pk, "instance": "i-1", "kind": "deploy", "message": "1.2",
             "timestamp": at}  # fmt: skip
    heartbeat = {"type": "heartbeat", "component": component.pk, "instance": "i-1", "timestamp": at}
    batch = [sample, event, heartbeat, sample, by_name, event, heartbeat]
    response = shipper.post(URL, batch, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["stored"] == {"heartbeats": 1, "samples": 1, "events": 1}
    assert response.json()["duplicates"] == {"heartbeats": 1, "samples": 2, "events": 1}
    assert list(Sample.objects.values_list("value", flat=True)) == [5]  # the first one sent is kept
    assert Event.objects.count() == 1


def test_items_that_differ_in_time_subject_or_name_are_not_duplicates(shipper, component, instance):
    at, later = _now(), (timezone.now() + timedelta(seconds=1)).isoformat()
    base = {"type": "sample", "component": component.pk, "name": "cpu", "value": 5, "timestamp": at}
    events = {"type": "event", "component": component.pk, "kind": "deploy", "timestamp": at}
    batch = [base, {**base, "timestamp": later}, {**base, "instance": "i-1"}, {**base, "name": "mem"},
             {**events, "message": "1.2"}, {**events, "message": "1.3"}]  # fmt: skip
    response = shipper.post(URL, batch, format="json")
    assert response.json()["stored"] == {"heartbeats": 0, "samples": 4, "events": 2}
    assert response.json()["duplicates"] == {"heartbeats": 0, "samples": 0, "events": 0}
