"""Issue 16: the fast read path and orjson change no byte a client reads.

Every paginated list of the schema answers the demo estate (plus rows with awkward values) with the same
bytes through the values() plan (estate.core.listing) as through DRF's serializers; the hot lists do take
the plan; the orjson renderer writes what DRF's renderer wrote, and the parser reads what DRF's read.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.test import RequestFactory, override_settings
from django.urls import resolve
from django.utils import timezone
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer
from rest_framework.request import Request

from estate.audit.models import AuditEvent
from estate.core.listing import plan_for
from estate.core.parsers import JSONParser
from estate.core.renderers import JSONRenderer
from estate.discovery.models import DiscoveredObject, DiscoverySource
from estate.inventory.models import Instance
from estate.patching.models import PatchWindow
from estate.telemetry.models import HealthChange, Sample
from tests.api.test_contract import PAGINATED
from tests.factories import ImmutableComponentFactory

pytestmark = pytest.mark.django_db

# The lists scripts read in bulk: they must take the values() plan, not fall back to the serializers.
HOT = [
    "/api/v1/components/",
    "/api/v1/instances/",
    "/api/v1/images/",
    "/api/v1/health-changes/",
    "/api/v1/samples/",
    "/api/v1/audit/",
    "/api/v1/operations/",
    "/api/v1/patch-windows/",
]


def _awkward_rows() -> None:
    """Nulls, a naive-looking microsecond, non-ASCII and JavaScript's line separators in text."""
    component = ImmutableComponentFactory(name="naïve\u2028svc", description="line\u2029break “quoted”")
    instance = Instance.objects.create(
        component=component, external_id="i-ünïcode", launched_at=timezone.now().replace(microsecond=0)
    )
    HealthChange.objects.create(component=component, instance=instance, at=timezone.now(), from_state="unknown",
                                to_state="down", reason="")  # fmt: skip
    HealthChange.objects.create(component=component, at=timezone.now(), from_state="down", to_state="healthy")
    AuditEvent.objects.bulk_create([AuditEvent(action="create", ip="::1", changes={"n": [1.5, None, "\u2028"]})])
    window = PatchWindow.objects.create(
        title="fenêtre\u2028", start=timezone.now().replace(microsecond=7), duration=dt.timedelta(hours=1, seconds=7),
        series_end=timezone.now() + dt.timedelta(days=8), time_zone="Asia/Kolkata", rrule="FREQ=WEEKLY;COUNT=2",
        runbook=["étape\u2028un", "deux “quoted”"],
    )  # fmt: skip
    window.components.add(component)
    # A discovered component and instance: managed_by is written per row from the page's owners.
    source = DiscoverySource.objects.create(name="aws-contract", kind="aws", regions=["eu-west-1"], tag_keys={})
    DiscoveredObject.objects.create(source=source, key="arn:asg", kind="asg", component=component,
                                    last_seen_at=timezone.now())  # fmt: skip
    DiscoveredObject.objects.create(source=source, key="i-1", kind="ec2", instance=instance,
                                    last_seen_at=timezone.now())  # fmt: skip
    Sample.objects.bulk_create([Sample(component=component, instance_id=instance.pk, name="lätency\u2028", value=1e-7,
                                       unit="µs", ts=timezone.now().replace(microsecond=1)),
                                Sample(component=component, name="n", value=-0.0, ts=timezone.now())])  # fmt: skip


@pytest.fixture
def demo(db):
    call_command("load_demo", stdout=io.StringIO())
    _awkward_rows()


def _list_paths() -> list[str]:
    return [path for path in PAGINATED if "{" not in path]


def test_every_list_answers_the_same_bytes_through_the_values_plan_as_through_the_serializers(api, demo):
    for path in _list_paths():
        for query in ({"page_size": 1000}, {"page_size": 3, "page": 2}):
            with override_settings(API_VALUES_LISTS=False):
                slow = api.get(path, query)
            fast = api.get(path, query)
            assert fast.status_code == slow.status_code, (path, query)
            assert fast.content == slow.content, (path, query)
            assert slow.status_code == 200 or path not in HOT or "page" in query, path
    components = json.loads(api.get("/api/v1/components/", {"page_size": 1000}).content)
    assert components["count"] > 10
    owners = {row["managed_by"]["owner"] for row in components["results"] if row["managed_by"]}
    assert "discovery:aws-contract" in owners  # managed_by is compared written, not only null


def test_the_hot_lists_take_the_values_plan(api):
    for path in HOT:
        view = resolve(path).func
        viewset = view.cls(**view.initkwargs)
        viewset.action_map, viewset.action, viewset.kwargs = view.actions, "list", {}
        viewset.request, viewset.format_kwarg = Request(RequestFactory().get(path)), None
        queryset = viewset.get_queryset()
        methods = frozenset(viewset.values_method_fields)
        assert plan_for(viewset.get_serializer_class(), queryset, methods) is not None, path


def test_a_list_reads_one_page_in_a_fixed_number_of_queries(api, demo, django_assert_max_num_queries):
    for path in HOT:
        with django_assert_max_num_queries(6):
            assert api.get(path, {"page_size": 1000}).status_code == 200


AWKWARD = {
    "when": dt.datetime(2026, 11, 30, 13, 17, 50, 123456, tzinfo=dt.UTC),
    "offset": dt.datetime(2026, 11, 30, 13, 17, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    "day": dt.date(2026, 11, 30),
    "time": dt.time(2, 30),
    "span": dt.timedelta(hours=1, seconds=3),
    "money": decimal.Decimal("1.50"),
    "id": uuid.UUID(int=7),
    "lazy": gettext_lazy("Invalid request."),
    "text": 'naïve \u2028 \u2029 \x1f \\ " ✓',
    "numbers": [0, -1, 2**63 - 1, 1.5, 0.1, True, False, None],
    1: "an int key",
    "nested": {"a": [{"b": ()}]},
}


def test_the_orjson_renderer_writes_what_drfs_renderer_wrote():
    assert JSONRenderer().render(AWKWARD) == DRFJSONRenderer().render(AWKWARD)
    assert JSONRenderer().render(None) == b""


@pytest.mark.parametrize("data", [{"big": 2**70}, {"lone": "\ud800"}, {"tuple": (1, 2)}])
def test_what_orjson_refuses_is_rendered_or_refused_as_drf_did(data):
    try:
        expected = DRFJSONRenderer().render(data)
    except Exception as exc:  # noqa: BLE001 - the same failure is expected of ours
        with pytest.raises(type(exc)):
            JSONRenderer().render(data)
    else:
        assert JSONRenderer().render(data) == expected


def test_indented_output_is_drfs():
    media_type = "application/json; indent=2"
    assert JSONRenderer().render(AWKWARD, media_type) == DRFJSONRenderer().render(AWKWARD, media_type)


@pytest.mark.parametrize(
    "body",
    [b'{"a": [1, 2.5, "x", null, true]}', b"[]", b'"\\u00e9"', "ü".encode(), b"12345678901234567890123",
     b'{"n": 1e400}', b'"\\ud800"', b'{"a":1,"a":2}', b"NaN", b"[1,]", b"", b'{"a"'],
)  # fmt: skip
def test_the_parser_reads_or_refuses_every_body_as_drfs_did(body):
    def parse(parser):
        try:
            return ("ok", parser.parse(io.BytesIO(body), "application/json", {}))
        except ParseError as exc:
            return ("refused", str(exc.detail))

    ours, theirs = parse(JSONParser()), parse(DRFJSONParser())
    assert ours == theirs
    if ours[0] == "ok":
        assert type(ours[1]) is type(theirs[1])
