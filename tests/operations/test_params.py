"""Every operation and policy parameter has a type and a bound; past them: a 400 naming both, nothing stored."""

from __future__ import annotations

import math

import hypothesis
import pytest
from django.urls import reverse
from hypothesis import strategies as st

from estate.core.errors import ApplicationError
from estate.operations import params as operation_params
from estate.operations import services
from estate.operations.choices import OperationKind
from estate.operations.models import Operation, RemediationPolicy
from tests.operations.conftest import make_component

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(services, "dispatch", lambda operation_id: True)


def start(component, params, kind=OperationKind.ROLL_COMPONENT):
    return services.operation_start(component=component, kind=kind, params=params)


OUT_OF_BOUNDS = [
    ("warmup_seconds", 3e8, "between 0 and 3600 s"),
    ("health_timeout_seconds", 1e9, "between 0 and 3600 s"),
    ("health_timeout_seconds", -1, "between 0 and 3600 s"),
    ("health_timeout_seconds", 10**400, "finite number of seconds"),
    ("batch_size", 0, "between 1 and 1000"),
    ("batch_size", 10**6, "between 1 and 1000"),
    ("max_unavailable", 0, "between 1 and 1000"),
    ("min_healthy_percentage", 101, "between 0 and 100 %"),
    ("checkpoints", [0, 50], "between 1 and 99"),
    ("checkpoints", [50, 50], "must not repeat"),
    ("checkpoints", list(range(1, 101)), "at most 99 items"),
    ("image_id", 2**64, "between 1 and 9223372036854775807"),
    ("image_id", 0, "between 1 and"),
]


@pytest.mark.parametrize(("name", "value", "bound"), OUT_OF_BOUNDS)
def test_a_parameter_past_its_bound_is_refused_naming_it_and_the_bound(component, name, value, bound):
    with pytest.raises(ApplicationError) as exc:
        start(component, {name: value})
    assert exc.value.status == 400
    assert name in exc.value.message and bound in exc.value.message
    assert exc.value.errors == {"params": {name: [exc.value.message]}}
    assert not Operation.objects.exists()


NOT_THEIR_TYPE = [
    ("health_timeout_seconds", "nan", "finite number of seconds"),
    ("warmup_seconds", "inf", "finite number of seconds"),
    ("warmup_seconds", "-inf", "finite number of seconds"),
    ("warmup_seconds", "soon", "finite number of seconds"),
    ("batch_size", "nan", "whole number"),
    ("batch_size", 2.5, "whole number"),
    ("batch_size", True, "whole number"),
    ("batch_size", "9" * 5000, "whole number"),
    ("rollback", "yes", "true or false"),
    ("instance_ids", ["abc"], "Each item of instance_ids must be a whole number"),
    ("instance_ids", "12", "list of whole numbers"),
    ("checkpoints", {"a": 1}, "list of whole numbers"),
]


@pytest.mark.parametrize(("name", "value", "reason"), NOT_THEIR_TYPE)
def test_a_parameter_of_the_wrong_type_is_refused_naming_it(component, name, value, reason):
    with pytest.raises(ApplicationError) as exc:
        start(component, {name: value}, kind=OperationKind.REPLACE_INSTANCES)
    assert name in exc.value.message and reason in exc.value.message
    assert exc.value.errors == {"params": {name: [exc.value.message]}}
    assert not Operation.objects.exists()


def test_values_within_their_bounds_are_stored_as_their_types(component):
    op = start(
        component,
        {"batch_size": "3", "warmup_seconds": "2.5", "health_timeout_seconds": 3600, "checkpoints": [50.0, 25]},
    )
    assert op.params == {
        "batch_size": 3,
        "warmup_seconds": 2.5,
        "health_timeout_seconds": 3600.0,
        "checkpoints": [50, 25],
    }


def test_the_bounds_follow_the_settings(component, settings):
    settings.OPERATIONS_MAX_WAIT_SECONDS = 60
    settings.OPERATIONS_MAX_INSTANCES = 2
    with pytest.raises(ApplicationError, match="warmup_seconds must be between 0 and 60 s; got 61"):
        start(component, {"warmup_seconds": 61})
    with pytest.raises(ApplicationError, match="instance_ids may hold at most 2 items; got 3"):
        start(component, {"instance_ids": [1, 2, 3]}, kind=OperationKind.REPLACE_INSTANCES)
    assert start(component, {"warmup_seconds": 60, "batch_size": 2}).params == {"warmup_seconds": 60.0, "batch_size": 2}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"warmup_seconds": 3e8}, "warmup_seconds"),
        ({"health_timeout_seconds": 1e9}, "health_timeout_seconds"),
        ({"health_timeout_seconds": "nan"}, "health_timeout_seconds"),
        ({"warmup_seconds": "inf"}, "warmup_seconds"),
        ({"instance_ids": ["abc"]}, "instance_ids"),
        ({"image_id": 2**64}, "image_id"),
    ],
)
def test_the_api_answers_400_naming_the_parameter(api, params, name):
    component = make_component()
    kind = OperationKind.REPLACE_INSTANCES if "instance_ids" in params else OperationKind.ROLL_COMPONENT
    reply = api.post("/api/v1/operations/", {"component": component.pk, "kind": kind, "params": params}, format="json")
    assert reply.status_code == 400, reply.content
    body = reply.json()
    assert body["detail"].startswith(name) or name in body["detail"]
    assert list(body["errors"]["params"]) == [name]
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("health_timeout_seconds", 1000000, "health_timeout_seconds must be between 0 and 3600 s; got 1000000."),
        ("batch_size", 0, "batch_size must be between 1 and 1000; got 0."),
        ("min_healthy_percentage", 101, "min_healthy_percentage must be between 0 and 100 %; got 101."),
    ],
)
def test_the_browser_form_reports_the_services_bound_on_the_page(client, admin_user, field, value, message):
    component = make_component()
    client.force_login(admin_user)
    reply = client.post(
        reverse("operation_create", args=[component.pk]), {"kind": "roll_component", field: value}, follow=True
    )
    assert reply.status_code == 200
    assert message in reply.content.decode()
    assert not Operation.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("rebuild_every_days", 10**6, "between 1 and 365"),
        ("replace_unhealthy_after_minutes", 10**9, "between 1 and 10080"),
        ("batch_size", 10**6, "between 1 and 1000"),
        ("breaker_threshold", 10**6, "between 1 and 100"),
        ("rebuild_failure_limit", 10**6, "between 1 and 100"),
    ],
)
def test_a_policy_number_past_its_bound_is_refused_naming_it(api, field, value, bound):
    component = make_component()
    reply = api.post("/api/v1/remediation-policies/", {"component": component.pk, field: value}, format="json")
    assert reply.status_code == 400, reply.content
    assert bound in reply.json()["errors"][field][0]
    assert not RemediationPolicy.objects.exists()


def test_many_unknown_parameters_are_named_briefly(component):
    with pytest.raises(ApplicationError) as exc:
        start(component, {f"p{n:04}": n for n in range(2000)})
    assert exc.value.message.startswith("Unknown parameter(s): p0000, p0001, p0002, p0003, p0004 and 1995 more.")
    assert exc.value.errors == {"params": [exc.value.message]}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@hypothesis.settings(max_examples=500, deadline=None, derandomize=True)
@hypothesis.given(name=st.sampled_from(sorted(operation_params.NAMES)), value=JSON_VALUES)
def test_any_json_value_is_either_clean_and_within_bounds_or_refused_naming_the_parameter(name, value):
    try:
        cleaned = operation_params.clean({name: value})[name]
    except operation_params.ParamError as exc:
        assert exc.name == name and name in exc.message
        return
    if name in operation_params.NUMBERS:
        _, bounds, _ = operation_params.NUMBERS[name]
        assert math.isfinite(cleaned) and bounds.low <= cleaned <= bounds.high()
    elif name in operation_params.LISTS:
        assert isinstance(cleaned, list) and all(isinstance(item, int) for item in cleaned)
    elif name == "analysis_queries":
        assert isinstance(cleaned, list) and len(cleaned) <= operation_params.MAX_QUERIES
        for item in cleaned:
            (bound,) = set(item) - {"query"}
            assert item["query"].strip() and math.isfinite(item[bound])
    else:
        assert isinstance(cleaned, bool)
