"""GET /api/v1/samples/: samples as stored, newest first, filtered by component, instance, metric name and
time range; `?format=ndjson` exports every matching sample (issue 16), the same rows either way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from estate.core import listing
from estate.telemetry.models import Sample
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/samples/"
NOON = datetime(2026, 11, 28, 12, tzinfo=UTC)


@pytest.fixture
def samples(db):
    """Ten samples over three days (several daily partitions on PostgreSQL), two with the same time."""
    web, db_ = ImmutableComponentFactory(slug="web"), ImmutableComponentFactory(slug="db")
    rows = [
        Sample(component=web if n % 2 else db_, instance_id=7 if n % 3 == 0 else None, name=("cpu", "rps")[n % 2],
               value=n + 0.5, unit="%" if n % 2 == 0 else "", ts=NOON - timedelta(hours=8 * min(n, 8)))
        for n in range(10)
    ]  # fmt: skip
    return Sample.objects.bulk_create(rows)


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _lines(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_samples_are_listed_newest_first_with_their_fields(api, samples):
    rows = _results(api.get(URL, {"page_size": 1000}))
    assert [row["id"] for row in rows] == [s.pk for s in sorted(samples, key=lambda s: (s.ts, s.pk), reverse=True)]
    first = samples[0]
    assert rows[0] == {"id": first.pk, "component": first.component_id, "instance": 7, "name": "cpu", "value": 0.5,
                       "unit": "%", "ts": "2026-11-28T12:00:00Z"}  # fmt: skip


def test_samples_filter_by_component_instance_and_name(api, samples):
    web = samples[1].component_id
    assert {row["component"] for row in _results(api.get(URL, {"component": web}))} == {web}
    assert {row["id"] for row in _results(api.get(URL, {"instance": 7}))} == {s.pk for s in samples[::3]}
    assert {row["name"] for row in _results(api.get(URL, {"name": "rps"}))} == {"rps"}
    assert _results(api.get(URL, {"component": web, "name": "cpu"})) == []


def test_samples_filter_by_a_time_range_since_inclusive_until_exclusive(api, samples):
    rows = _results(api.get(URL, {"since": "2026-11-27T12:00:00Z", "until": "2026-11-28T12:00:00Z"}))
    assert [row["ts"] for row in rows] == ["2026-11-28T04:00:00Z", "2026-11-27T20:00:00Z", "2026-11-27T12:00:00Z"]
    # A moment with an offset is the same moment in UTC.
    assert len(_results(api.get(URL, {"since": "2026-11-28T13:00:00+01:00"}))) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("since", "2026-13-45"), ("since", "yesterday"), ("until", "2026-02-30T00:00:00Z"), ("until", "\x00"),
     ("since", "9999-12-31T23:00:00-23:00"), ("component", "1.5"), ("component", "99999999999999999999"),
     ("instance", "-1"), ("name", "\x00"), ("page_size", "0")],
)  # fmt: skip
def test_a_bad_parameter_is_a_400_naming_it(api, samples, name, value):
    response = api.get(URL, {name: value})
    assert response.status_code == 400 and name in response.json()["errors"], response.content
    export = api.get(URL, {name: value, "format": "ndjson"})
    assert export.status_code == (200 if name == "page_size" else 400)  # paging does not apply to an export


def test_reading_samples_needs_a_login(client, samples):
    assert client.get(URL).status_code in (401, 403)
    assert client.get(URL, {"format": "ndjson"}).status_code in (401, 403)


@pytest.mark.parametrize("fast", [True, False])
def test_an_export_streams_every_sample_once_in_id_order_over_several_chunks(api, samples, monkeypatch, fast):
    monkeypatch.setattr(listing, "EXPORT_CHUNK", 3)  # four chunks from ten rows
    with override_settings(API_VALUES_LISTS=fast):
        exported = _lines(api.get(URL, {"format": "ndjson"}))
    listed = _results(api.get(URL, {"page_size": 1000}))
    assert [row["id"] for row in exported] == sorted(s.pk for s in samples)
    assert sorted(exported, key=lambda row: row["id"]) == sorted(listed, key=lambda row: row["id"])


def test_filters_apply_to_an_export(api, samples, monkeypatch):
    monkeypatch.setattr(listing, "EXPORT_CHUNK", 2)
    query = {"format": "ndjson", "name": "cpu", "since": "2026-11-27T00:00:00Z"}
    exported = _lines(api.get(URL, query))
    expected = [s.pk for s in samples if s.name == "cpu" and s.ts >= datetime(2026, 11, 27, tzinfo=UTC)]
    assert [row["id"] for row in exported] == sorted(expected) and len(expected) > 2


def test_the_list_and_the_export_are_the_same_through_the_fast_path_and_drfs(api, samples):
    with override_settings(API_VALUES_LISTS=False):
        slow, slow_export = api.get(URL, {"page_size": 4, "page": 2}), api.get(URL, {"format": "ndjson"})
        slow_body = b"".join(slow_export.streaming_content)
    fast, fast_export = api.get(URL, {"page_size": 4, "page": 2}), api.get(URL, {"format": "ndjson"})
    assert fast.content == slow.content
    assert b"".join(fast_export.streaming_content) == slow_body
