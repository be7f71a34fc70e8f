"""A batch item whose fate the test knows: valid, invalid (and on which field), or unknown."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from tests.fuzz.strategies import Raw

VALID, INVALID, UNSURE = "valid", "invalid", "unsure"


@dataclass(frozen=True)
class Ref:
    """A row of the seeded estate (its id is only known once the test runs)."""

    name: str


@dataclass
class Item:
    payload: object
    verdict: str
    field: str | None = None  # the field an INVALID item's error names; None: non_field_errors or unknown
    key: tuple | None = None  # what makes two VALID items conflict (environment, slug)


def resolved(value, refs):
    """The payload with each Ref replaced by the seeded object's id."""
    if isinstance(value, Ref):
        return refs[value.name]
    if isinstance(value, list):
        return [resolved(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: resolved(v, refs) for k, v in value.items()}
    return value


def unparseable(value) -> bool:
    """True when the document holds a token the strict JSON parser refuses (the whole body is then a 400)."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, Raw):
        return value.text.lstrip("-").isdigit() and len(value.text.lstrip("-")) > 4300
    if isinstance(value, dict):
        return any(unparseable(k) or unparseable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unparseable(v) for v in value)
    return False


def non_objects():
    """Items that are not JSON objects at all."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.lists(st.integers(), max_size=3),
        st.just([{}]),
    ).map(lambda v: Item(v, INVALID))


def mixture(*strategies):
    """Each strategy about as often as listed (st.one_of leans hard towards the first, simplest branches)."""
    return st.sampled_from(strategies).flatmap(lambda strategy: strategy)
