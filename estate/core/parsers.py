"""API parsers, in a module of their own: DRF imports them from settings, so nothing here may import DRF views."""

from __future__ import annotations

import io
import re

import orjson
from django.conf import settings
from rest_framework import exceptions, parsers

UTF8 = {"utf-8", "utf8"}
# orjson reads an integer past 64 bits as a float; the standard library keeps it whole.
LONG_NUMBER = re.compile(rb"\d{19}")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with orjson in front; a document nested past Python's recursion limit is a 400.

    orjson reads a UTF-8 body several times faster. What it refuses (bad JSON, 1e400, a lone surrogate
    escape), and a body with 19 digits in a row (orjson would read an integer past 64 bits as a float), is
    read by DRF's parser: every body is accepted or refused, with the same message and values, as before.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = stream.read()
        if encoding.lower() in UTF8 and not LONG_NUMBER.search(body):
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError:
                pass
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from exc
