"""Reading a request body with every size bounded: the bytes sent and the bytes they inflate to."""

from __future__ import annotations

import zlib

import cramjam
from django.conf import settings


class IntakeError(Exception):
    """A request refused whole, with its HTTP status; nothing of it was stored."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def content_type(request) -> str:
    """The media type without parameters ("application/json; charset=utf-8" → "application/json")."""
    return request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def read_body(request, *, encodings: tuple[str, ...]) -> bytes:
    """The body, decompressed; 413 past TELEMETRY_MAX_BODY_BYTES before or after inflating."""
    limit = settings.TELEMETRY_MAX_BODY_BYTES
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower() or "identity"
    if encoding not in encodings:
        raise IntakeError(415, f"Content-Encoding {encoding} is not accepted; send {' or '.join(encodings)}.")
    if _content_length(request) > limit:
        raise IntakeError(413, f"The body is over {limit} bytes.")
    raw = request.read(limit + 1)  # the raw Django request: never request.body, which loads it unbounded
    if len(raw) > limit:
        raise IntakeError(413, f"The body is over {limit} bytes.")
    if encoding == "gzip":
        return gunzip(raw, limit)
    if encoding == "snappy":
        return unsnappy(raw, limit)
    return raw


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def gunzip(raw: bytes, limit: int) -> bytes:
    """Inflate at most `limit` bytes: a small body that inflates past it (a gzip bomb) is a 413."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as error:
        raise IntakeError(400, f"The body is not valid gzip: {error}.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise IntakeError(413, f"The body inflates to more than {limit} bytes.")
    if not inflater.eof:
        raise IntakeError(400, "The gzip body is truncated.")
    return data


def unsnappy(raw: bytes, limit: int) -> bytes:
    """Snappy's block format (remote_write's) starts with the inflated length: checked before inflating."""
    size = _varint(raw)
    if size > limit:
        raise IntakeError(413, f"The body inflates to {size} bytes, over {limit}.")
    try:
        return bytes(cramjam.snappy.decompress_raw(raw))
    except cramjam.DecompressionError as error:
        raise IntakeError(400, f"The body is not valid snappy (block format): {error}.") from None


def _varint(raw: bytes) -> int:
    value = 0
    for shift, byte in zip(range(0, 35, 7), raw, strict=False):
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise IntakeError(400, "The body is not valid snappy (block format): no length header.")
