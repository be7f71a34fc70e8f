"""Malformed payloads, shared by the fuzz tests of every bulk endpoint.

A payload is built as Python data and serialised by `encode`, with two escapes JSON libraries do
not give: `Raw("1e400")` is written into the document as-is (numbers Python's json turns into
infinity, or integers past its digit limit), and lone surrogates and NUL come out as `\\ud800` and
`\\u0000` escapes because the text is encoded with ensure_ascii.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """A JSON token written verbatim (a number no json.dumps would write)."""

    text: str


def encode(payload) -> bytes:
    raws: dict[str, str] = {}

    def default(value):
        if isinstance(value, Raw):
            marker = f"@@raw{len(raws)}@@"
            raws[json.dumps(marker)] = value.text
            return marker
        raise TypeError(type(value))

    text = json.dumps(payload, default=default, ensure_ascii=True, allow_nan=True)
    for marker, token in raws.items():
        text = text.replace(marker, token)
    return text.encode()


# --- scalars ---------------------------------------------------------------------------------

NUMBERS_JSON_CANNOT_HOLD = st.sampled_from(
    [
        float("nan"),  # written as NaN: not JSON, refused by the strict parser
        float("inf"),
        float("-inf"),
        Raw("1e400"),  # valid JSON, parsed by Python as infinity
        Raw("-1e400"),
        Raw("1e-400"),
        Raw("-0"),
        Raw("1" + "0" * 400),  # an int past float's range
        Raw("-" + "9" * 5000),  # past Python's int-from-text digit limit
    ]
)
BAD_INTS = st.one_of(
    st.integers(min_value=-(2**70), max_value=-1),
    st.integers(min_value=2**31, max_value=2**70),
    st.sampled_from([2**63, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    NUMBERS_JSON_CANNOT_HOLD,
)
ODD_TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",  # a lone surrogate: only the \\ud800 escape can carry it
            "\udfff\ud800",
            "\ufeff",
            "\u202e",
            "💥",
            "Ω" * 300,
            "x" * 5000,
            "x" * 100_001,
            "../../etc/passwd",
            "'; DROP TABLE inventory_component; --",
            "%s%s%n",
            "{{7*7}}",
            "null",
            "NaN",
            "1e400",
            "/",
            "production/",
            "/existing-api",
            "production/existing-api/extra",
        ]
    ),
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cc", "Cs", "Co", "Zs"]), max_size=20),
)
BAD_TIMESTAMPS = st.one_of(
    st.sampled_from(
        [
            "",
            "yesterday",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00-23:59",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-23:59",
            "2999-01-01T00:00:00Z",
            "2026-01-31T12:00:00",  # naive
            "2026-02-30T12:00:00Z",
            "2026-01-31T25:00:00Z",
            "2026-01-31T12:00:00+25:00",
            "2026-01-31 12:00:00 UTC",
            "1970-01-01T00:00:00Z",
            "2026-W05-6T12:00:00Z",
            "\x00",
            "\ud800",
            -1,
            0,
            -(10**20),
            10**20,
            2**63,
            1e300,
            -1e300,
            Raw("1e400"),
            Raw("1" + "0" * 400),
            True,
            [],
            {},
            {"$date": 0},
        ]
    ),
    st.datetimes().map(lambda d: d.isoformat()),  # naive, any year
    st.integers(),
    st.floats(),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    NUMBERS_JSON_CANNOT_HOLD,
    ODD_TEXT,
)

# Any JSON value, a few levels deep, with the odd scalars at the leaves.
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), ODD_TEXT), children, max_size=4),
    ),
    max_leaves=12,
)


def wrong_type_for(kind: str):
    """A value of any JSON type but `kind` (str, int, number, bool, list, object)."""
    choices = {
        "str": st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.lists(SCALARS, max_size=2),
            st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
        ),  # fmt: skip
        "int": st.one_of(
            st.none(),
            st.booleans(),
            ODD_TEXT,
            BAD_INTS,
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=5), SCALARS, max_size=2),
        ),  # fmt: skip
        "list": st.one_of(SCALARS, st.dictionaries(st.text(max_size=5), SCALARS, max_size=2)),
    }
    return choices[kind]


# --- whole bodies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """A request body with its Content-Type, sent as raw bytes."""

    data: bytes
    content_type: str


def deeply_nested(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


NOT_UTF8 = st.one_of(
    st.sampled_from(
        [
            b"\xff\xfe\x00\x00",
            b"\xc3\x28",
            b'[{"name": "\xe9t\xe9"}]',  # latin-1, not UTF-8
            b'{"items": [\x80\x81]}',
            b"\xed\xa0\x80",  # an encoded surrogate
            b"\xf4\x90\x80\x80",  # past U+10FFFF
            b"\x00\x00\x00[",
            "[{}]".encode("utf-16"),
            "[{}]".encode("utf-32"),
        ]
    ),
    st.binary(min_size=1, max_size=64),
)

JSON_TYPES = ["application/json", "application/json; charset=utf-8"]
ODD_CONTENT_TYPES = [
    "",
    "text/plain",
    "text/html",
    "application/xml",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data",  # no boundary
    "multipart/form-data; boundary=zzz",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=utf-32",
    "application/json; charset=ascii",
    "application/json; charset=cp500",
    "application/json; charset=idna",
    "application/json; charset=rot13",
    "application/json; charset=base64",
    "application/json; charset=hex",
    "application/json; charset=zlib",
    "application/json; charset=bz2",
    "application/json; charset=uu",
    "application/json; charset=quopri",
    "application/json; charset=undefined",
    "application/json; charset=no-such-charset",
    "application/json-patch+json",
    "application/vnd.api+json",
    "application/json\x00",
    "*/*",
]


def bodies(valid_payloads):
    """Whole-body garbage: JSON of the wrong shape, not JSON, not UTF-8, too deep, wrong media type."""
    json_bytes = st.one_of(valid_payloads, JSON_VALUES).map(encode)
    return st.one_of(
        st.builds(Body, JSON_VALUES.map(encode), st.sampled_from(JSON_TYPES)),
        st.builds(Body, NOT_UTF8, st.sampled_from(JSON_TYPES + ODD_CONTENT_TYPES)),
        st.builds(Body, json_bytes, st.sampled_from(ODD_CONTENT_TYPES)),
        st.builds(
            Body,
            st.sampled_from(
                [
                    b"",
                    b" ",
                    b"[",
                    b"[{]",
                    b'[{"a": 1,}]',
                    b"[{'a': 1}]",
                    b"[1, 2, 3",
                    b'{"items": ',
                    b"NaN",
                    b"Infinity",
                    b"-Infinity",
                    b"[NaN]",
                    b'{"items": [NaN]}',
                    b"\xef\xbb\xbf[]",  # a byte-order mark before the JSON
                    b'[{"name": "a", "name": "b"}]',  # duplicate keys
                    b"1" + b"0" * 5000,
                    deeply_nested(100_000),
                    deeply_nested(100_000, '[{"items":', "}]"),
                    deeply_nested(5_000, '{"a":', "}"),
                    b'{"items": ' + deeply_nested(50_000) + b"}",
                ]
            ),
            st.sampled_from(JSON_TYPES),
        ),
    )
