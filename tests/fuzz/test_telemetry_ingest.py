"""Fuzz POST /api/v1/telemetry/ (estate/telemetry/ingest.py) with an ingest token: malformed batches
never answer 5xx, a refused batch writes nothing (no sample, event, heartbeat, taint or idempotency
record), an accepted one stores exactly its items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

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
from tests.fuzz.strategies import BAD_INTS, BAD_TIMESTAMPS, JSON_VALUES, ODD_TEXT, Raw, bodies, encode

URL = "/api/v1/telemetry/"
# Each seeded component, named by id or by "environment/slug", with its instances' external ids.
COMPONENTS = {
    "service": (Ref("service"), "production/existing-api", ["i-1", "i-2"]),
    "database": (Ref("database"), "staging/existing-db", ["db-1"]),
}
SAFE_TEXT = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)


@st.composite
def timestamps(draw):
    """A time inside the retention and not in the future, in each way an agent may write one."""
    now = timezone.now()
    ts = now - timedelta(seconds=draw(st.floats(min_value=1, max_value=6 * 86400)))
    form = draw(st.sampled_from(["iso-z", "iso-offset", "epoch-int", "epoch-float", "absent"]))
    if form == "iso-z":
        return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if form == "iso-offset":
        hours = draw(st.integers(-12, 14))
        return ts.astimezone(timezone.get_fixed_timezone(hours * 60)).isoformat()
    if form == "epoch-int":
        return int(ts.timestamp())
    if form == "epoch-float":
        return ts.timestamp()
    return None


@st.composite
def valid_items(draw) -> Item:
    by_id, by_name, instances = COMPONENTS[draw(st.sampled_from(sorted(COMPONENTS)))]
    kind = draw(st.sampled_from(["heartbeat", "sample", "event"]))
    data = {"type": kind, "component": draw(st.sampled_from([by_id, by_name]))}
    if draw(st.booleans()):
        data["instance"] = draw(st.sampled_from(instances))
    ts = draw(timestamps())
    if ts is not None:
        data["timestamp"] = ts
    if kind == "sample":
        data["name"] = draw(st.from_regex(r"[A-Za-z_:][A-Za-z0-9_:.\-]{0,99}", fullmatch=True))
        data["value"] = draw(st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False)))
        if draw(st.booleans()):
            data["unit"] = draw(SAFE_TEXT)
    elif kind == "event":
        data["kind"] = draw(st.from_regex(r"[a-z][a-z0-9_.\-]{0,49}", fullmatch=True) | st.sampled_from(
            ["ssh_session", "config_change", "package_install", "file_change", "deploy"]))  # fmt: skip
        if draw(st.booleans()):
            data["message"] = draw(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=500))
    if draw(st.booleans()):
        data[draw(st.sampled_from(["extra", "labels", "host"]))] = draw(
            JSON_VALUES.filter(lambda v: not unparseable(v))
        )  # unknown fields are ignored
    return Item(data, VALID, key=kind)


def _far_from_now(value) -> bool:
    """A number or text the ingest must refuse as a timestamp (not one that happens to fall inside the retention)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    now = timezone.now().timestamp()
    return not now - 8 * 86400 < value < now + 3600


# Values that are certainly refused on the field: every one is sent by
# test_every_catalogued_bad_value_is_named_on_its_field, and drawn at random by the fuzz test.
NOT_TEXT = [None, True, False, 0, -1, 1.5, [], {}]
BAD_VALUES = {
    "type": [*NOT_TEXT, "", "Heartbeat", "metric", "sample ", "\x00", "\ud800"],
    "component": [0, -1, 2**31 - 1, 2**63, 10**30, 1.0, 1.5, True, None, [], {}, "", "/", "nope", "production/nope",
                  "nope/existing-api", "staging/existing-api", "production/existing-api/x", "production//existing-api",
                  "production/exist\x00ing-api", "prod\x00uction/existing-api", "\ud800/existing-api",
                  "production/\udfff", "x" * 5000 + "/y", Raw("1" + "0" * 400), Raw("1e400"), Raw("-0")],
    "instance": ["", "i-404", "x" * 201, 5, 0, True, [], {}, "i-1\x00", "\x00", "\ud800", "i-\udfff", "db-1 ",
                 Raw("1e400")],
    "timestamp": ["", "yesterday", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-23:59",
                  "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-23:59", "2999-01-01T00:00:00Z",
                  "2026-01-31T12:00:00", "2026-02-30T12:00:00Z", "2026-01-31T25:00:00Z", "2026-01-31T12:00:00+25:00",
                  "1970-01-01T00:00:00Z", "\x00", "\ud800", -1, 0, -(10**20), 10**20, 2**63, 1e300, -1e300,
                  Raw("1e400"), Raw("-1e400"), Raw("1" + "0" * 400), True, [], {}, {"$date": 0}],
}  # fmt: skip
SAMPLE_BAD_VALUES = {
    "name": [*NOT_TEXT, "", "1abc", "a b", "x" * 101, "\x00", "a\x00", "\ud800", "é"],
    "value": [None, "1", "NaN", True, False, [], {}, [1.0], {"v": 1}, Raw("1e400"), Raw("-1e400"),
              Raw("1" + "0" * 400), Raw("-" + "9" * 400), 10**400],
    "unit": [None, 5, 1.5, True, [], {}, "x" * 21, "\ud800" * 21, "\x00", "k\x00B", "\ud800", "%\udfff"],
}  # fmt: skip
EVENT_BAD_VALUES = {
    "kind": [*NOT_TEXT, "", "SSH", "ssh session", "x" * 51, "\x00", "ssh\x00", "\ud800"],
    "message": [None, 5, 1.5, True, [], {}, "x" * 501, "\x00", "rm -rf /\x00", "\ud800", "a\udfffb"],
}  # fmt: skip


def _sampled(values: dict) -> dict:
    return {name: st.sampled_from(options) for name, options in values.items()}


SURELY_BAD = _sampled(BAD_VALUES)
SURELY_BAD["timestamp"] |= BAD_TIMESTAMPS.filter(_far_from_now)
SAMPLE_BAD = _sampled(SAMPLE_BAD_VALUES)
EVENT_BAD = _sampled(EVENT_BAD_VALUES)
REQUIRED = {"heartbeat": ["type", "component"], "sample": ["type", "component", "name", "value"],
            "event": ["type", "component", "kind"]}  # fmt: skip


@st.composite
def invalid_items(draw) -> Item:
    item = draw(valid_items())
    data = dict(item.payload)
    bad = SURELY_BAD | (SAMPLE_BAD if item.key == "sample" else EVENT_BAD if item.key == "event" else {})
    if draw(st.booleans()) and len(REQUIRED[item.key]) > 0:
        name = draw(st.sampled_from(REQUIRED[item.key]))
        data.pop(name)
        return Item(data, INVALID, field=name)
    name = draw(st.sampled_from(sorted(bad)))
    data[name] = draw(bad[name])
    if name == "instance" and isinstance(data[name], str) and data.get("component") is None:
        name = "component"
    return Item(data, INVALID if not unparseable(data) else UNSURE, field=name)


@st.composite
def chaotic_items(draw) -> Item:
    data = dict(draw(valid_items()).payload)
    for name in draw(st.lists(st.sampled_from(["type", "component", "instance", "timestamp", "name", "value",
                                               "unit", "kind", "message"]), max_size=3)):  # fmt: skip
        data[name] = draw(st.one_of(JSON_VALUES, ODD_TEXT, BAD_INTS, BAD_TIMESTAMPS))
    return Item(data, UNSURE)


@st.composite
def batches(draw) -> tuple[list[Item], bool, str | None]:
    items = draw(batch_sizes.flatmap(lambda n: st.lists(item_kinds, min_size=n, max_size=n)))
    if items and draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(items)))  # a duplicate
    wrapped = draw(st.booleans())
    key = draw(st.sampled_from([None] * 6 + ["batch-1", "k" * 200, "", "k" * 201]))
    return items, wrapped, key


item_kinds = mixture(valid_items(), invalid_items(), invalid_items(), chaotic_items(), valid_items(), non_objects())
# Mostly inside the limit (an over-limit batch is refused before its items are looked at).
batch_sizes = st.sampled_from([*range(FUZZ_BULK_LIMIT), *range(1, FUZZ_BULK_LIMIT), FUZZ_BULK_LIMIT + 1])


def check_batch(client, estate: dict, items: list[Item], wrapped: bool, key: str | None) -> None:
    refs = {"service": estate["service"].pk, "database": estate["database"].pk}
    payloads = [item.payload for item in items]
    document = {"items": payloads} if wrapped else payloads
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    before, counts = snapshot(), row_counts()
    response = client.post(URL, encode(resolved(document, refs)), content_type="application/json", **headers)
    assert_no_5xx(response, (document, key))
    bad_key = key is not None and not 0 < len(key) <= 200
    invalid = {i: item.field for i, item in enumerate(items) if item.verdict == INVALID}
    if any(unparseable(p) for p in payloads):
        assert response.status_code == 400, response.content
    elif len(items) > settings.TELEMETRY_BATCH_LIMIT:
        assert response.status_code == 413, response.content
    elif bad_key:
        assert response.status_code == 400, response.content
    elif invalid:
        assert response.status_code == 400, response.content
        assert_item_errors(response.json(), invalid)
    elif all(item.verdict == VALID for item in items):
        assert response.status_code == 201, response.content
        distinct = {_identity(item.payload) for item in items}  # an item sent twice is stored once
        kinds = [identity[0] for identity in distinct]
        assert response.json()["stored"] == {
            "heartbeats": kinds.count("heartbeat"),
            "samples": kinds.count("sample"),
            "events": kinds.count("event"),
        }
        assert sum(response.json()["duplicates"].values()) == len(items) - len(distinct)
    if response.status_code >= 400:
        assert_error_shape(response)
        assert snapshot() == before, "a refused batch changed the database"
    else:
        assert_stored(response, counts, len(items), idempotent=key is not None)


def _identity(data: dict) -> tuple:
    """What makes two valid items one item sent twice (Item.identity in estate/telemetry/ingest.py)."""
    alias = next(name for name, (by_id, by_name, _) in COMPONENTS.items() if data["component"] in (by_id, by_name))
    kind = data["type"]
    what = {"sample": (data.get("name"),), "event": (data.get("kind"), data.get("message", ""))}.get(kind, ())
    return (kind, alias, data.get("instance"), _instant(data.get("timestamp")), *what)


def _instant(value) -> datetime | None:
    """The moment a valid timestamp names (None: absent, so the batch's arrival time, the same for all)."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.fromtimestamp(value, tz=UTC)


def assert_stored(response, counts: dict[str, int], expected: int | None, *, idempotent: bool) -> None:
    assert response.status_code == 201, response.content
    stored = response.json()["stored"]
    if expected is not None:
        assert sum(stored.values()) + sum(response.json()["duplicates"].values()) == expected
    after = row_counts()
    growth = {label: after[label] - counts[label] for label in after if after[label] != counts[label]}
    # Samples for buckets that closed a while ago mark them for the rollup: at most one mark each.
    assert growth.pop("telemetry.stalerollup", 0) <= stored["samples"]
    # The components a stored batch names are marked for a prompt evaluation: at most one mark each.
    assert growth.pop("telemetry.pendingevaluation", 0) <= len(COMPONENTS)
    wanted = {"telemetry.sample": stored["samples"], "telemetry.event": stored["events"],
              "telemetry.ingestbatch": 1 if idempotent else 0}  # fmt: skip
    assert growth == {label: n for label, n in wanted.items() if n}


@FUZZ
@given(batch=batches())
def test_a_malformed_batch_is_refused_whole_and_a_valid_one_stored_whole(shipper, estate, batch):
    with isolated():
        check_batch(shipper, estate, *batch)


def _by_name(items: list[Item]) -> list:
    """Valid items that name components by "environment/slug" (ids are only known inside the test)."""
    return [{**item.payload, "component": COMPONENTS["service"][1]} for item in items]


@FUZZ
@given(
    body=bodies(
        st.lists(valid_items(), max_size=3).map(_by_name).flatmap(lambda xs: st.sampled_from([xs, {"items": xs}]))
    )
)
def test_a_malformed_body_never_answers_5xx_nor_writes_partly(shipper, estate, body):
    with isolated():
        before, counts = snapshot(), row_counts()
        response = shipper.generic("POST", URL, body.data, content_type=body.content_type)
        assert_no_5xx(response, (body.content_type, body.data[:200]))
        if response.status_code >= 400:
            assert_error_shape(response)
            assert snapshot() == before
        else:
            assert_stored(response, counts, None, idempotent=False)


def test_every_catalogued_bad_value_is_named_on_its_field(shipper, estate):
    """Deterministic: each catalogued value once, between two valid items (which must not be stored)."""
    base = {"heartbeat": {"type": "heartbeat", "component": "production/existing-api", "instance": "i-1"},
            "sample": {"type": "sample", "component": "production/existing-api", "name": "cpu", "value": 1.5,
                       "unit": "%"},
            "event": {"type": "event", "component": "production/existing-api", "instance": "i-1",
                      "kind": "ssh_session", "message": "root login"}}  # fmt: skip
    catalogue = [("heartbeat", BAD_VALUES), ("sample", SAMPLE_BAD_VALUES), ("event", EVENT_BAD_VALUES)]
    for kind, values in catalogue:
        for name, options in values.items():
            for value in options:
                valid = Item(base[kind], VALID, key=kind)
                items = [valid, Item({**base[kind], name: value}, INVALID, field=name), valid]
                with isolated():
                    check_batch(shipper, estate, items, wrapped=False, key=None)


def test_timestamps_of_the_strategy_are_inside_the_retention():
    now = datetime.now(UTC)
    assert now - timedelta(days=settings.TELEMETRY_RETENTION_DAYS) < now - timedelta(days=6)
