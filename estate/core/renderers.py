"""API renderers, in a module of their own: DRF imports them from settings, so nothing here may import DRF views.

JSON is written by orjson (several times faster than the standard library on a page of 1,000 rows) with
the bytes DRF's own renderer wrote for the same data: compact, UTF-8, U+2028/U+2029 escaped; decimals and
lazy strings through DRF's encoder; dates, times and datetimes by orjson in the text DRF's encoder wrote
(ISO 8601, "Z" for UTC: "2026-11-30T13:17:50.123456Z"), which is what the serializers write too. Two
differences, neither in a value: floats in orjson's shortest form (1e-07 is written 1e-7), and an offset
of seconds (a zone's local mean time before 1900) rounded to the minute. What orjson refuses (an integer
past 64 bits, a lone surrogate, an object DRF's encoder refuses too) goes through DRF's renderer
unchanged, so it fails or succeeds as it did.
"""

from __future__ import annotations

import orjson
from rest_framework import renderers
from rest_framework.utils import encoders

_drf_encoder = encoders.JSONEncoder()
# "Z" for UTC, as DRF writes it; dict keys that are not strings as json.dumps writes them (1 -> "1").
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def dumps(data) -> bytes:
    """`data` as compact JSON bytes, the same DRF's renderer writes; raises orjson.JSONEncodeError."""
    body = orjson.dumps(data, default=_drf_encoder.default, option=OPTIONS)
    if b"\xe2\x80" in body:  # U+2028 and U+2029 end a line in JavaScript: escaped, as DRF does
        for raw, escaped in LINE_SEPARATORS:
            body = body.replace(raw, escaped)
    return body


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, written by orjson."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is None:
            try:
                return dumps(data)
            except orjson.JSONEncodeError:
                pass  # DRF's renderer decides: the same answer, or the same error, as before orjson
        return super().render(data, accepted_media_type, renderer_context)
