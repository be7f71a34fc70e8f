"""Fuzz POST /api/v1/components/ with a list body (services.component_bulk_create): malformed batches
never answer 5xx, a refused batch writes nothing, an accepted one creates exactly its items."""

from __future__ import annotations

import json

from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from estate.inventory.models import Component
from tests.fuzz.conftest import (
    FUZZ,
    FUZZ_BULK_LIMIT,
    assert_error_shape,
    assert_item_errors,
    assert_no_5xx,
    isolated,
    row_counts,
    snapshot,
)
from tests.fuzz.items import INVALID, UNSURE, VALID, Item, Ref, mixture, non_objects, resolved, unparseable
from tests.fuzz.strategies import BAD_INTS, JSON_VALUES, ODD_TEXT, Raw, bodies, encode

URL = "/api/v1/components/"
ENVIRONMENTS = ["production", "staging"]
SLUGS = st.from_regex(r"fz-[a-z0-9_-]{1,40}", fullmatch=True)
NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,60}", fullmatch=True)
PLAIN_TEXT = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=200)


def _optional(strategy):
    return st.one_of(st.just(None), strategy)


@st.composite
def valid_components(draw, slug=None, environment=None) -> Item:
    slug = slug or draw(SLUGS)
    environment = environment or draw(st.sampled_from(ENVIRONMENTS))
    data = {"name": draw(NAMES), "slug": slug, "environment": environment}
    if draw(st.booleans()):
        data |= {
            "category": draw(st.sampled_from(["service", "worker", "function", "container"])),
            "mode": "immutable",
            "provider": draw(st.sampled_from(["sandbox", "webhook", "aws", "kubernetes"])),
        }
        optional = {
            "desired_instances": _optional(st.integers(0, 10000)),
            "max_instance_age_days": _optional(st.integers(1, 3650)),
            "ssh_enabled": st.booleans(),
            "config_management_enabled": st.booleans(),
        }
    else:
        data |= {"category": draw(st.sampled_from(["database", "cache", "queue"])), "holds_state": True,
                 "engine": draw(st.sampled_from(["postgresql", "mysql", "redis"]))}  # fmt: skip
        if draw(st.booleans()):
            data["mode"] = "bastion"  # else the serializer picks it from holds_state
        optional = {
            "engine_version": st.from_regex(r"[0-9][0-9.]{0,20}", fullmatch=True),
            "patch_cadence_days": _optional(st.integers(1, 366)),
            "expected_failover_seconds": _optional(st.integers(0, 86400)),
            "role": st.sampled_from(["", "primary", "replica"]),
        }
    optional |= {
        "description": PLAIN_TEXT,
        "heartbeat_period_seconds": _optional(st.integers(10, 7 * 86400)),
        "system": st.sampled_from([None, "orders"]),
        "team": st.sampled_from([None, "payments"]),
        "tags": st.lists(st.sampled_from(["web", "db"]), unique=True),
        "depends_on": st.lists(st.sampled_from([Ref("service"), Ref("database")]), unique=True),
        # DRF ignores fields it does not know: they must not make the item invalid, nor reach the model.
        "unknown_field": JSON_VALUES.filter(lambda v: not unparseable(v)),
        "id": st.integers(),
        "health": st.sampled_from(["down", "healthy"]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=6)):
        data[name] = draw(optional[name])
    return Item(data, VALID, key=(environment, slug))


# Values that are certainly refused on the field, with the serializer's message on that field: every one
# is sent by test_every_catalogued_bad_value_is_named_on_its_field, and drawn at random by the fuzz test.
NOT_TEXT = [None, True, False, [], [1, 2], {"a": 1}]
BAD_VALUES = {
    "name": [*NOT_TEXT, "", "   ", "x" * 101, "a\x00b", "\x00", "\ud800", "a\udfff", "x" * 100_001],
    "slug": [*NOT_TEXT, "", "a b", "ü", "x" * 101, "a\x00", "\udfff", "a/b", "a.b"],
    "environment": ["nope", "", "PRODUCTION", "\x00", "prod\x00uction", "\ud800", "x" * 5000, 1, 0, -1, None, True,
                    ["production"], {"slug": "production"}, Raw("1e400"), 2**63],
    "category": [*NOT_TEXT, "", "Service", "nope", "\x00", "\ud800"],
    "mode": ["", "mutable", "\x00", "\ud800", 1, [], None],
    "heartbeat_period_seconds": [-1, 0, 9, 7 * 86400 + 1, 1.5, "ten", "", [], {}, True, Raw("1e400"), Raw("-1e400"),
                                 Raw("1e-400"), Raw("1" + "0" * 400), 2**63, -(2**63) - 1, "\x00"],
    "desired_instances": [-1, 10001, 0.5, "many", "\x00", [], True, Raw("1e400"), 10**30],
    "tags": ["web", "", None, 1, {"slug": "web"}, ["nope"], [None], [1], [""], ["\x00"], ["web\x00"], ["\ud800"],
             [[]], [{}], ["web", "nope"]],
    "depends_on": [Ref("service"), "abc", None, {"id": 1}, [2**31 - 1], [2**63], [-1], [0], ["abc"], [None], [[]],
                   ["\x00"], [10**30], ["1.5"], [Raw("1e400")], [{}], [True], [1.5], [Raw("-1e400")]],
    "system": ["nope", "\x00", "orders\x00", "\ud800", 7, [], {}],
    "team": ["nope", "\x00", "\ud800", 7, [], {}],
    "cluster": ["nope", "\x00", "pg-main\x00", 3],
    "description": [None, "a\x00b", "\ud800x", [], {}],
    "holds_state": ["maybe", 2, None, [], {}, "\x00"],
    "provider": ["gcp", "\x00", 1, []],
}  # fmt: skip
SURELY_BAD = {name: st.sampled_from(values) for name, values in BAD_VALUES.items()}
SURELY_BAD["heartbeat_period_seconds"] |= st.integers(max_value=9) | st.integers(min_value=7 * 86400 + 1)
SURELY_BAD["desired_instances"] |= st.integers(max_value=-1) | st.integers(min_value=10001)
REQUIRED = ["name", "slug", "environment", "category"]


@st.composite
def invalid_components(draw) -> Item:
    item = draw(valid_components())
    data = dict(item.payload)
    how = draw(st.sampled_from(["missing", "bad", "bad", "bad"]))
    if how == "missing":
        name = draw(st.sampled_from(REQUIRED))
        data.pop(name)
    else:
        name = draw(st.sampled_from(sorted(SURELY_BAD)))
        data[name] = draw(SURELY_BAD[name])
        if unparseable(data[name]):
            return Item(data, INVALID)
    return Item(data, INVALID, field=name)


@st.composite
def chaotic_components(draw) -> Item:
    """Any field set to anything: the test does not know the verdict, only that it is all or nothing."""
    data = dict(draw(valid_components()).payload)
    for name in draw(st.lists(st.sampled_from([*SURELY_BAD, "id", "created_at", "health"]), max_size=3)):
        data[name] = draw(st.one_of(JSON_VALUES, ODD_TEXT, BAD_INTS))
    return Item(data, UNSURE)


@st.composite
def batches(draw) -> list[Item]:
    kinds = mixture(
        valid_components(),
        invalid_components(),
        invalid_components(),
        chaotic_components(),
        valid_components(),
        non_objects(),
    )
    # Mostly inside the limit (an over-limit batch is refused before its items are looked at).
    sizes = st.sampled_from([*range(FUZZ_BULK_LIMIT), *range(1, FUZZ_BULK_LIMIT), FUZZ_BULK_LIMIT + 1])
    items = draw(sizes.flatmap(lambda n: st.lists(kinds, min_size=n, max_size=n)))
    if items and draw(st.booleans()):
        # Conflicts: a copy of an item, an item reusing another's slug, an item reusing a stored slug.
        kind = draw(st.sampled_from(["duplicate", "same-slug", "stored-slug"]))
        other = draw(st.sampled_from(items))
        if kind == "duplicate":
            items.insert(draw(st.integers(0, len(items))), other)
        elif kind == "same-slug" and other.verdict == VALID:
            env, slug = other.key
            items.append(draw(valid_components(slug=slug, environment=env)))
        else:
            items.append(draw(valid_components(slug="existing-api", environment="production")))
    return items


def outcome(items: list[Item]) -> tuple[dict[int, str | None], dict[int, str | None], bool]:
    """Item errors the serializer must report, the ones the model must report, and whether all are valid."""
    first, second, seen = {}, {}, {("production", "existing-api"), ("staging", "existing-db")}
    for index, item in enumerate(items):
        if item.verdict == INVALID:
            first[index] = item.field if item.field in REQUIRED or item.field in SURELY_BAD else None
        elif item.verdict == VALID:
            if item.key in seen:
                second[index] = "slug"
            seen.add(item.key)
    if any(item.verdict == UNSURE for item in items):
        second = {}  # an unsure item may fail in the serializer, which then stops before the model's checks
    sure_valid = all(item.verdict == VALID for item in items) and not second
    return first, second, sure_valid


def check_batch(client, estate: dict, items: list[Item]) -> None:
    refs = {"service": estate["service"].pk, "database": estate["database"].pk}
    payloads = [item.payload for item in items]
    body = encode(resolved(payloads, refs))
    before, counts = snapshot(), row_counts()
    response = client.post(URL, body, content_type="application/json")
    assert_no_5xx(response, payloads)
    first, second, sure_valid = outcome(items)
    if any(unparseable(p) for p in payloads):
        assert response.status_code == 400, response.content
    elif len(items) > settings.API_BULK_LIMIT:
        assert response.status_code == 413, response.content
    elif not items or first or second:
        assert response.status_code == 400, response.content
        if first:
            assert_item_errors(response.json(), first)
        elif second:
            assert_item_errors(response.json(), second)
    elif sure_valid:
        assert response.status_code == 201, response.content
    if response.status_code >= 400:
        assert_error_shape(response)
        assert snapshot() == before, "a refused batch changed the database"
    else:
        assert_created(response, counts, expected=len(items))


def assert_created(response, counts: dict[str, int], expected: int | None) -> None:
    assert response.status_code == 201, response.content
    rows = response.json()
    rows = rows if isinstance(rows, list) else [rows]
    if expected is not None:
        assert len(rows) == expected
    after = row_counts()
    growth = {label: after[label] - counts[label] for label in after if after[label] != counts[label]}
    links = {
        "inventory.component_tags": sum(len(row["tags"]) for row in rows),
        "inventory.component_depends_on": sum(len(row["depends_on"]) for row in rows),
    }
    assert growth == {"inventory.component": len(rows), **{k: v for k, v in links.items() if v}}
    assert Component.objects.filter(pk__in=[row["id"] for row in rows]).count() == len(rows)


@FUZZ
@given(items=batches())
def test_a_malformed_batch_is_refused_whole_and_a_valid_one_created_whole(admin_api, estate, items):
    with isolated():
        check_batch(admin_api, estate, items)


def _without_refs(items: list[Item]) -> list:
    return [{k: v for k, v in item.payload.items() if k != "depends_on"} for item in items]


@FUZZ
@given(body=bodies(st.lists(valid_components(), min_size=1, max_size=3).map(_without_refs)))
def test_a_malformed_body_never_answers_5xx_nor_writes_partly(admin_api, estate, body):
    with isolated():
        before, counts = snapshot(), row_counts()
        response = admin_api.generic("POST", URL, body.data, content_type=body.content_type)
        assert_no_5xx(response, (body.content_type, body.data[:200]))
        if response.status_code >= 400:
            assert_error_shape(response)
            assert snapshot() == before
        else:
            assert_created(response, counts, expected=None)


def test_every_catalogued_bad_value_is_named_on_its_field(admin_api, estate):
    """Deterministic: each catalogued value once, between two valid items (which must not be stored)."""
    first = {"name": "a", "slug": "fz-a", "environment": "production", "category": "service", "provider": "sandbox"}
    last = {**first, "name": "c", "slug": "fz-c"}
    for name, values in BAD_VALUES.items():
        for value in values:
            bad = {**first, "name": "b", "slug": "fz-b", name: value}
            items = [Item(first, VALID, key=("production", "fz-a")), Item(bad, INVALID, field=name),
                     Item(last, VALID, key=("production", "fz-c"))]  # fmt: skip
            with isolated():
                check_batch(admin_api, estate, items)


def test_the_fuzzed_payloads_are_json():
    assert json.loads(encode([{"a": Raw("1e400")}])) == [{"a": float("inf")}]
